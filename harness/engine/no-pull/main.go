// Command kmslab-no-pull is a Docker authorization plugin that refuses every request that would make dockerd
// contact an image registry: pulls (POST /images/create?fromImage=…, which `docker pull`, a `docker run` of a
// missing image, compose and testcontainers all send), registry lookups (GET /distribution/…), pushes, registry
// logins and searches, and builds asked to pull their base images. Everything else is allowed. dockerd asks it
// before serving each API request, so a refused pull never leaves dockerd.
//
// Usage: kmslab-no-pull <socket>   (dockerd finds it as /run/docker/plugins/<name>.sock)
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"syscall"
)

// request is the part of dockerd's AuthZReq this plugin reads.
type request struct {
	RequestMethod string
	RequestURI    string
}

type response struct {
	Allow bool
	Msg   string `json:",omitempty"`
	Err   string `json:",omitempty"`
}

var (
	apiPath  = regexp.MustCompile(`^(/v[0-9.]+)?(/[^?]*)`)
	pushPath = regexp.MustCompile(`^/images/.+/push$`)
)

// refusal says why a request would reach a registry, or "" when it would not.
func refusal(method, uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "unparsable request URI"
	}
	m := apiPath.FindStringSubmatch(u.Path)
	if m == nil {
		return ""
	}
	path, q := m[2], u.Query()
	switch {
	case method == "POST" && path == "/images/create" && q.Get("fromImage") != "":
		return "image pull of " + q.Get("fromImage")
	case method == "GET" && len(path) > len("/distribution/") && path[:len("/distribution/")] == "/distribution/":
		return "registry lookup " + path
	case method == "POST" && pushPath.MatchString(path):
		return "image push"
	case method == "POST" && path == "/auth":
		return "registry login"
	case method == "GET" && path == "/images/search":
		return "registry search"
	case method == "POST" && path == "/build" && (q.Get("pull") == "1" || q.Get("pull") == "true"):
		return "build that pulls its base image"
	}
	return ""
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kmslab-no-pull <socket>")
		os.Exit(2)
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
		var req request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			reply(w, response{Err: "kmslab-no-pull: " + err.Error()})
			return
		}
		if why := refusal(req.RequestMethod, req.RequestURI); why != "" {
			fmt.Fprintf(os.Stderr, "refused %s %s: %s\n", req.RequestMethod, req.RequestURI, why)
			reply(w, response{Msg: "kmslab: this engine never contacts an image registry (" + why + "); build images locally: kmslab build --images"})
			return
		}
		reply(w, response{Allow: true})
	})
	mux.HandleFunc("/AuthZPlugin.AuthZRes", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, response{Allow: true})
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
