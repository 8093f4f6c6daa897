package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault describes how to misbehave on matching token requests (POST to the
// token route). Faults are consumed in FIFO order: a token request takes the
// first queued fault whose Grant matches, whatever the request's outcome.
//
// What a fault does, in order:
//  1. Delay: wait, or return without answering if the client goes away.
//  2. Reset: close the TCP connection without answering.
//  3. Status: answer Status with Body, ContentType and RetryAfter, without
//     authenticating or issuing anything (like a proxy in front of MightyCall).
//  4. Otherwise the request is handled normally (a real token is issued if it
//     is valid), and a successful response is shaped by ExpiresIn,
//     OmitAccessToken, OversizeBytes and Truncate. An error answer is not
//     shaped.
//
// In JSON (the control API) the fields keep their Go names and Delay is a Go
// duration string such as "2s".
type Fault struct {
	// Status, if non-zero, is the HTTP status answered (100-599).
	Status int
	// Body is the response body of a Status fault. Empty means a small HTML
	// error page (as a proxy would send) for 5xx and 429, nothing otherwise.
	Body string
	// ContentType of a Status fault. Empty means text/html for the default
	// page, application/json for a Body that is valid JSON, text/plain
	// otherwise.
	ContentType string
	// RetryAfter is the raw Retry-After header value of a Status fault.
	RetryAfter string
	// Delay is slept before answering; it ends early if the client goes away.
	Delay time.Duration
	// Reset hijacks and closes the connection without answering.
	Reset bool
	// Truncate sends the first half of the success JSON (with a matching
	// Content-Length, so the client sees malformed JSON).
	Truncate bool
	// OversizeBytes, if positive, makes the success body that many bytes: a
	// JSON object whose first member is padding, followed by the token fields.
	OversizeBytes int
	// Grant limits the fault to this grant_type; empty matches any request.
	Grant string
	// Count is how many requests the fault applies to; 0 means 1.
	Count int
	// ExpiresIn, if non-nil, replaces expires_in in a successful response
	// with this value (any JSON-encodable value: 0, -5, "86400", 1e12, ...).
	ExpiresIn any
	// OmitAccessToken leaves access_token out of a successful response.
	OmitAccessToken bool
}

// maxOversize bounds Fault.OversizeBytes.
const maxOversize = 1 << 30

// Validate reports whether f can be injected.
func (f Fault) Validate() error {
	switch {
	case f.Status != 0 && (f.Status < 100 || f.Status > 599):
		return fmt.Errorf("fault: Status %d out of range 100-599", f.Status)
	case f.Delay < 0:
		return errors.New("fault: negative Delay")
	case f.Count < 0:
		return errors.New("fault: negative Count")
	case f.OversizeBytes < 0 || f.OversizeBytes > maxOversize:
		return fmt.Errorf("fault: OversizeBytes out of range 0-%d", maxOversize)
	case strings.ContainsAny(f.RetryAfter, "\r\n") || strings.ContainsAny(f.ContentType, "\r\n"):
		return errors.New("fault: header values must not contain line breaks")
	}
	if f.ExpiresIn != nil {
		if _, err := json.Marshal(f.ExpiresIn); err != nil {
			return fmt.Errorf("fault: ExpiresIn is not JSON-encodable: %v", err)
		}
	}
	return nil
}

// MarshalJSON encodes f with Delay as a Go duration string.
func (f Fault) MarshalJSON() ([]byte, error) {
	type plain Fault
	aux := struct {
		plain
		Delay string `json:",omitempty"`
	}{plain: plain(f)}
	if f.Delay != 0 {
		aux.Delay = f.Delay.String()
	}
	return json.Marshal(aux)
}

// UnmarshalJSON decodes f, with Delay as a Go duration string. Unknown fields
// are rejected, and numbers in ExpiresIn keep their literal form.
func (f *Fault) UnmarshalJSON(b []byte) error {
	type plain Fault
	var aux struct {
		plain
		Delay string
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&aux); err != nil {
		return err
	}
	nf := Fault(aux.plain)
	if aux.Delay != "" {
		d, err := time.ParseDuration(aux.Delay)
		if err != nil {
			return fmt.Errorf("fault: Delay: %v", err)
		}
		nf.Delay = d
	}
	*f = nf
	return nil
}

type queuedFault struct {
	f         Fault
	remaining int
}

// InjectFault queues f. It panics if f is invalid (see Fault.Validate).
func (s *Server) InjectFault(f Fault) {
	if err := f.Validate(); err != nil {
		panic("emulator: " + err.Error())
	}
	n := f.Count
	if n == 0 {
		n = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &queuedFault{f: f, remaining: n})
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// PendingFaults returns how many requests the queued faults still apply to.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.faults {
		n += q.remaining
	}
	return n
}

func (s *Server) takeFaultLocked(grant string) *Fault {
	for i, q := range s.faults {
		if q.f.Grant != "" && q.f.Grant != grant {
			continue
		}
		q.remaining--
		if q.remaining <= 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		f := q.f
		return &f
	}
	return nil
}

func writeFaultStatus(w http.ResponseWriter, f *Fault) {
	body, ct := f.Body, f.ContentType
	if body == "" && (f.Status >= 500 || f.Status == http.StatusTooManyRequests) {
		text := strconv.Itoa(f.Status) + " " + http.StatusText(f.Status)
		body = "<html>\r\n<head><title>" + text + "</title></head>\r\n<body>\r\n<center><h1>" + text +
			"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
		if ct == "" {
			ct = "text/html"
		}
	}
	if ct == "" && body != "" {
		if json.Valid([]byte(body)) {
			ct = "application/json"
		} else {
			ct = "text/plain; charset=utf-8"
		}
	}
	h := w.Header()
	if ct != "" {
		h.Set("Content-Type", ct)
	}
	if f.RetryAfter != "" {
		h.Set("Retry-After", f.RetryAfter)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(f.Status)
	io.WriteString(w, body)
}

// writeShaped writes a 200 success body altered by OversizeBytes and/or
// Truncate, streaming the padding.
func writeShaped(w http.ResponseWriter, body []byte, f *Fault) {
	var prefix, suffix []byte
	pad := 0
	if f.OversizeBytes > 0 {
		prefix = []byte(`{"padding":"`)
		suffix = append([]byte(`",`), body[1:]...) // body starts with '{'
		pad = f.OversizeBytes - len(prefix) - len(suffix)
		if pad < 0 {
			pad = 0
		}
	} else {
		prefix = body
	}
	total := len(prefix) + pad + len(suffix)
	limit := total
	if f.Truncate {
		limit = total / 2
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(limit))
	w.WriteHeader(http.StatusOK)
	lw := &limitWriter{w: w, n: limit}
	lw.Write(prefix)
	if pad > 0 {
		chunk := bytes.Repeat([]byte{'x'}, 32<<10)
		for pad > 0 && lw.n > 0 {
			c := min(pad, len(chunk))
			if _, err := lw.Write(chunk[:c]); err != nil {
				return
			}
			pad -= c
		}
	}
	lw.Write(suffix)
}

type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, nil
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.w.Write(p)
	l.n -= n
	return n, err
}

// abortConnection closes the client's connection without an answer: a TCP
// reset where possible. Without a hijackable connection (HTTP/2,
// httptest.ResponseRecorder) it panics with http.ErrAbortHandler, which
// net/http turns into an aborted response.
func abortConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}
