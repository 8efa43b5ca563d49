package main

import (
	"mime"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// authzRequest is the part of dockerd's AuthZReq this plugin reads. dockerd forwards the body only when its own
// first Content-Type is application/json and the body is under 1 MiB (20.10 also wants a Content-Length: a chunked
// body is not forwarded); the headers come flattened, the last value of a repeated header winning.
type authzRequest struct {
	RequestMethod  string
	RequestURI     string
	RequestBody    []byte
	RequestHeaders map[string]string
}

// apiPath splits a request path into dockerd's optional version prefix and the route.
var apiPath = regexp.MustCompile(`^(?:/v([0-9.]+))?(/.*)$`)

// Routes that reach a registry or another host whatever their parameters.
var alwaysRemote = []struct {
	route *regexp.Regexp
	why   string
}{
	{regexp.MustCompile(`^/distribution/`), "registry lookup"},
	{regexp.MustCompile(`^/images/.*/push$`), "image push"},
	{regexp.MustCompile(`^/auth$`), "registry login"},
	{regexp.MustCompile(`^/images/search$`), "registry search"},
	{regexp.MustCompile(`^/plugins/(pull|privileges)$`), "plugin install"},
	{regexp.MustCompile(`^/plugins/.*/(upgrade|push)$`), "plugin upgrade or push"},
	// A swarm's services pull their images on every node, joining contacts other managers, and a swarm's
	// external CAs are remote hosts: without a swarm none of that can happen.
	{regexp.MustCompile(`^/swarm/(init|join|update)$`), "swarm mode (services pull their images; join and external CAs contact other hosts)"},
	{regexp.MustCompile(`^/services/create$`), "swarm service (its tasks pull the image)"},
	{regexp.MustCompile(`^/services/.+/update$`), "swarm service update (its tasks pull the image)"},
	// BuildKit's control API and client sessions: a solve pulls base images and frontends, fetches git and
	// HTTP sources and imports registry caches, none of it visible in the request.
	{regexp.MustCompile(`^/grpc$`), "BuildKit session (pulls base images, fetches remote sources)"},
	{regexp.MustCompile(`^/session$`), "BuildKit session (pulls base images, fetches remote sources)"},
}

var containerStart = regexp.MustCompile(`^/containers/.*/start$`)

// refusal says why a request could make dockerd contact a registry or another host, or "" when it cannot.
// What it cannot see on a route that could reach out, it refuses.
func refusal(req authzRequest) string {
	// dockerd's own parse of the request target (origin or absolute form).
	u, err := url.ParseRequestURI(req.RequestURI)
	if err != nil {
		return "unparsable request URI"
	}
	m := apiPath.FindStringSubmatch(u.Path)
	if m == nil {
		return ""
	}
	version, route := m[1], m[2]
	for _, r := range alwaysRemote {
		if r.route.MatchString(route) {
			return r.why
		}
	}
	// A query this plugin cannot read completely (a bad escape, a semicolon, more parameters than Go reads) may
	// still be read by dockerd's older Go.
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "query this plugin cannot read completely (" + err.Error() + ")"
	}
	post := req.RequestMethod == "POST"
	switch {
	case post && route == "/images/create":
		if why := formBody(req); why != "" {
			return why
		}
		return imageCreate(query)
	case post && route == "/build":
		if why := formBody(req); why != "" {
			return why
		}
		return build(query)
	case post && route == "/containers/create":
		return jsonBody(req, containerConfig)
	case post && route == "/volumes/create":
		return jsonBody(req, volumeConfig)
	case post && containerStart.MatchString(route) && olderThan(version, "1.24"):
		// Before API 1.24 a start may carry a HostConfig (log driver, volumes) in its body.
		if len(req.RequestBody) == 0 && smallOrNoBody(req) {
			return ""
		}
		return jsonBody(req, hostConfig)
	}
	return ""
}

// imageCreate allows only an import from the request body (`docker import -`): fromImage pulls, and any other
// fromSrc is a URL dockerd downloads (a bare host name included).
func imageCreate(q url.Values) string {
	for _, v := range q["fromImage"] {
		if v != "" {
			return "image pull of " + v
		}
	}
	src := q["fromSrc"]
	if len(src) == 0 {
		return "image create without fromSrc=- (an import from an empty source)"
	}
	for _, v := range src {
		if v != "-" {
			return "image import from " + redact(v)
		}
	}
	return ""
}

// build allows the classic builder on a context in the body: remote= fetches a context (git, HTTP), pull= pulls
// base images, and version=2 (BuildKit) pulls base images and frontends on its own. A local build whose FROM is
// missing also pulls; that is inside the context, out of any plugin's sight (see the docs).
func build(q url.Values) string {
	for _, v := range q["remote"] {
		if v != "" {
			return "build from the remote context " + redact(v)
		}
	}
	for _, v := range q["pull"] {
		if truthy(v) {
			return "build that pulls its base image"
		}
	}
	for _, v := range q["version"] {
		if v != "" && v != "1" {
			return "BuildKit build (version=" + v + "): it pulls base images and frontends itself"
		}
	}
	return ""
}

// truthy reads a flag the way dockerd does: anything but empty, 0, no, false or none is true.
func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

// formBody refuses a request whose parameters dockerd may read from its body: a form-encoded or multipart body
// is parsed into the same form as the query (the body's values first), and dockerd never shows such a body to
// its authorization plugins. An unparsable Content-Type is refused too: another Go may parse it differently.
func formBody(req authzRequest) string {
	ct := header(req, "Content-Type")
	if ct == "" {
		return ""
	}
	kind, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "parameters this plugin cannot see (unparsable Content-Type " + strconv.Quote(ct) + ")"
	}
	if strings.Contains(kind, "form") {
		return "parameters in a " + kind + " body, which dockerd reads but does not show its authorization plugins"
	}
	return ""
}

// jsonBody checks a JSON body dockerd decodes, and refuses when dockerd did not forward it (chunked on 20.10,
// 1 MiB or more, or sent under another Content-Type).
func jsonBody(req authzRequest, check func(*jsonValue) string) string {
	if len(req.RequestBody) == 0 {
		return "a body this plugin cannot see (chunked, 1 MiB or more, or not application/json)"
	}
	v, err := parseJSON(req.RequestBody)
	if err != nil {
		return "a body this plugin cannot read (" + err.Error() + ")"
	}
	return check(v)
}

// smallOrNoBody: dockerd reads a start's HostConfig only from a body over 7 bytes or of unknown length.
func smallOrNoBody(req authzRequest) bool {
	n, err := strconv.Atoi(header(req, "Content-Length"))
	return err == nil && n <= 7
}

// header reads a forwarded header whatever the case of its name.
func header(req authzRequest, name string) string {
	for k, v := range req.RequestHeaders {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// olderThan compares API versions the way dockerd does (dot-separated numbers); no version means the newest.
func olderThan(version, than string) bool {
	if version == "" {
		return false
	}
	a, b := strings.Split(version, "."), strings.Split(than, ".")
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int
		if i < len(a) {
			x, _ = strconv.Atoi(a[i])
		}
		if i < len(b) {
			y, _ = strconv.Atoi(b[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}
