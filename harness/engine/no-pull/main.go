// Command kmslab-no-pull is a Docker authorization plugin that refuses every API request that could make dockerd
// contact a registry or another host (decide.go says which, and why), and a trap for whatever gets past it
// (trap.go). dockerd asks it before serving each API request, so a refused request never leaves dockerd.
//
// Usage: kmslab-no-pull <socket> [<trap-address-file>]
//
// dockerd finds the plugin as /run/docker/plugins/<name>.sock. With a trap file, it also listens on a loopback
// port for dockerd's HTTP(S)_PROXY and writes that address to the file before the socket appears.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type authzResponse struct {
	Allow bool
	Msg   string `json:",omitempty"`
	Err   string `json:",omitempty"`
}

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		fmt.Fprintln(os.Stderr, "usage: kmslab-no-pull <socket> [<trap-address-file>]")
		os.Exit(2)
	}
	if len(os.Args) == 3 {
		trap, err := net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			err = writeFileAtomically(os.Args[2], trap.Addr().String())
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "kmslab-no-pull: trap: %v\n", err)
			os.Exit(1)
		}
		go serveTrap(trap)
	}
	socket := os.Args[1]
	_ = os.Remove(socket)
	listener, err := net.Listen("unix", socket)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kmslab-no-pull: %v\n", err)
		os.Exit(1)
	}
	_ = os.Chmod(socket, 0o600)
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/vnd.docker.plugins.v1.2+json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("/Plugin.Activate", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, map[string][]string{"Implements": {"authz"}})
	})
	mux.HandleFunc("/AuthZPlugin.AuthZReq", func(w http.ResponseWriter, r *http.Request) {
		var req authzRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			reply(w, authzResponse{Err: "kmslab-no-pull: " + err.Error()})
			return
		}
		if why := refusal(req); why != "" {
			// The path only: a query may hold build arguments or tokens.
			path, _, _ := strings.Cut(req.RequestURI, "?")
			logf("info", "refused %s %s: %s", req.RequestMethod, redact(path), why)
			reply(w, authzResponse{Msg: "kmslab: this engine never contacts an image registry or another host (" + why + "); build images locally: kmslab build --images"})
			return
		}
		reply(w, authzResponse{Allow: true})
	})
	mux.HandleFunc("/AuthZPlugin.AuthZRes", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, authzResponse{Allow: true})
	})
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		_ = listener.Close()
		_ = os.Remove(socket)
		os.Exit(0)
	}()
	_ = http.Serve(listener, mux)
}

// logf writes one line in dockerd's own log format, so one reader (pull-audit.ts) reads both logs by time.
func logf(level, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(os.Stderr, "time=%q level=%s msg=%q\n", time.Now().UTC().Format(time.RFC3339Nano), level, msg)
}

// redact keeps credentials and query strings out of the log: user:password@ and ?token=… are dropped from URLs,
// including URLs inside a query.
func redact(s string) string {
	path, query, hasQuery := strings.Cut(s, "?")
	if u, err := url.Parse(path); err == nil && u.User != nil {
		u.User = url.User("…")
		path = u.String()
	}
	if !hasQuery {
		return path
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		return path + "?…"
	}
	for k, vs := range values {
		for i, v := range vs {
			vs[i] = redact(v)
		}
		values[k] = vs
	}
	return path + "?" + values.Encode()
}

func writeFileAtomically(path, content string) error {
	temp := path + ".tmp"
	if err := os.WriteFile(temp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(temp, path)
}
