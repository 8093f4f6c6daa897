package emulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// kv is one member of a JSON object written in a fixed order.
type kv struct {
	k string
	v any
}

// orderedJSON encodes the members as a JSON object, in order.
func orderedJSON(members ...kv) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(m.v)
		if err != nil {
			// Fault.Validate guarantees encodable values; keep the body valid.
			v = []byte("null")
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// orderedJSONValue is orderedJSON for nesting inside another object.
func orderedJSONValue(members ...kv) json.RawMessage { return orderedJSON(members...) }

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// statusWriter remembers what was answered, for the request log line.
type statusWriter struct {
	http.ResponseWriter
	status int
	grant  string
	note   string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach Hijack and Flush.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// knownSegments are path segments that are fine to log as they are.
var knownSegments = map[string]bool{
	"v4": true, "auth": true, "token": true, "api": true, "profile": true, "ping": true,
	"contactcenter": true, "_emulator": true, "accounts": true, "faults": true, "stats": true, "expire": true,
}

// redactPath keeps known segments of an unrouted path and masks the others,
// which might hold a key or token sent by a confused client.
func redactPath(p string) string {
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		if seg != "" && !knownSegments[seg] {
			segs[i] = "*"
		}
	}
	return strings.Join(segs, "/")
}

func (s *Server) logRequest(r *http.Request, sw *statusWriter, took time.Duration) {
	// The route pattern, never the raw path: DELETE /_emulator/accounts/{apiKey}
	// carries a key in its path.
	route := r.Pattern
	if _, path, ok := strings.Cut(route, " "); ok {
		route = path // "GET /_emulator/stats" -> "/_emulator/stats"
	}
	if route == "" || route == "/" {
		route = redactPath(r.URL.Path)
	}
	grant := ""
	switch sw.grant {
	case "":
	case GrantClientCredentials, GrantRefreshToken:
		grant = " grant=" + sw.grant
	default:
		grant = " grant=<other>"
	}
	status := "status=" + strconv.Itoa(sw.status)
	if sw.status == 0 {
		status = "status=none"
	}
	note := ""
	if sw.note != "" {
		note = " (" + sw.note + ")"
	}
	s.opts.Logf("%s %s%s %s%s %s", r.Method, route, grant, status, note, took.Round(time.Microsecond))
}
