package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxControlBytes bounds a control API request body.
const maxControlBytes = 1 << 20

func (s *Server) registerControl(mux *http.ServeMux) {
	mux.HandleFunc("POST "+ControlPrefix+"accounts", s.ctlAddAccount)
	mux.HandleFunc("DELETE "+ControlPrefix+"accounts/{apiKey}", s.ctlRemoveAccount)
	mux.HandleFunc("POST "+ControlPrefix+"faults", s.ctlInjectFault)
	mux.HandleFunc("DELETE "+ControlPrefix+"faults", s.ctlClearFaults)
	mux.HandleFunc("GET "+ControlPrefix+"stats", s.ctlStats)
	mux.HandleFunc("POST "+ControlPrefix+"expire", s.ctlExpire)
}

// ValidateAccount reports whether a can be added: it needs an API key, a User
// key or (on Classic) an extension, and a known platform.
func ValidateAccount(a Account) error {
	switch {
	case a.APIKey == "":
		return errors.New("account: APIKey is required")
	case a.Platform != "" && a.Platform != PlatformCallCenter && a.Platform != PlatformClassic:
		return fmt.Errorf("account: Platform must be %q or %q", PlatformCallCenter, PlatformClassic)
	case a.UserKey == "" && (a.Extension == "" || a.Platform != PlatformClassic):
		return errors.New("account: UserKey is required (or Extension on a classic account)")
	}
	return nil
}

func ctlError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, orderedJSON(kv{"error", msg}))
}

func ctlOK(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, orderedJSON(kv{"ok", true}))
}

// decodeStrict decodes exactly one JSON value into v, rejecting unknown fields.
func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxControlBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func (s *Server) ctlAddAccount(w http.ResponseWriter, r *http.Request) {
	var a Account
	if err := decodeStrict(r, &a); err != nil {
		ctlError(w, http.StatusBadRequest, "bad account JSON: "+err.Error())
		return
	}
	if err := ValidateAccount(a); err != nil {
		ctlError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.AddAccount(a)
	ctlOK(w)
}

func (s *Server) ctlRemoveAccount(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	found := s.removeLocked(r.PathValue("apiKey"))
	s.mu.Unlock()
	if !found {
		ctlError(w, http.StatusNotFound, "no such account")
		return
	}
	ctlOK(w)
}

func (s *Server) ctlInjectFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if err := decodeStrict(r, &f); err != nil {
		ctlError(w, http.StatusBadRequest, "bad fault JSON: "+err.Error())
		return
	}
	if err := f.Validate(); err != nil {
		ctlError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.InjectFault(f)
	writeJSON(w, http.StatusOK, orderedJSON(kv{"ok", true}, kv{"pending", s.PendingFaults()}))
}

func (s *Server) ctlClearFaults(w http.ResponseWriter, r *http.Request) {
	s.ClearFaults()
	ctlOK(w)
}

func (s *Server) ctlStats(w http.ResponseWriter, r *http.Request) {
	b, err := json.Marshal(s.Stats())
	if err != nil {
		ctlError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) ctlExpire(w http.ResponseWriter, r *http.Request) {
	s.ExpireAll()
	ctlOK(w)
}
