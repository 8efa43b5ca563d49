// Command kmslab-no-pull is a Docker authorization plugin that refuses the API requests that make dockerd contact
// a registry or another host: pulls (POST /images/create?fromImage=…, which `docker pull`, a `docker run` of a
// missing image, compose and testcontainers all send), imports from a URL, registry lookups (GET /distribution/…),
// pushes, registry logins and searches, plugin installs and upgrades, builds asked to pull their base images and
// builds from a remote context. dockerd asks it before serving each API request, so a refused request never leaves
// dockerd. One path it cannot see: a local build whose FROM image is missing makes dockerd pull it; kmslab checks
// that every base image is on the engine before it builds (requireLocalImages), and dockerd's proxy settings send
// whatever got past both to a closed port.
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
	"strings"
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
	// Plugin installs and upgrades fetch from a registry; privileges?remote= looks one up.
	pluginPath = regexp.MustCompile(`^/plugins/(pull|privileges|.+/upgrade)$`)
)

// truthy reads a query flag the way dockerd does: anything but empty, 0, no, false or none is true.
func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

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
	case method == "POST" && path == "/images/create" && q.Get("fromSrc") != "" && q.Get("fromSrc") != "-":
		return "image import from " + q.Get("fromSrc")
	case method == "GET" && len(path) > len("/distribution/") && path[:len("/distribution/")] == "/distribution/":
		return "registry lookup " + path
	case method == "POST" && pushPath.MatchString(path):
		return "image push"
	case method == "POST" && path == "/auth":
		return "registry login"
	case method == "GET" && path == "/images/search":
		return "registry search"
	case method == "POST" && path == "/build" && truthy(q.Get("pull")):
		return "build that pulls its base image"
	case method == "POST" && path == "/build" && q.Get("remote") != "":
		return "build from the remote context " + q.Get("remote")
	case pluginPath.MatchString(path):
		return "plugin install or upgrade"
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
