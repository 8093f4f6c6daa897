// Package emulator is a local, in-memory model of MightyCall's token endpoint
// (POST {base}/auth/token) and of the two cheap calls used to check a token
// (GET {base}/api/profile and GET {base}/ping), with fault injection for
// reliability tests.
//
// It is an independent model of MightyCall: it imports nothing from this
// repository, so a misunderstanding baked into our client is not mirrored
// here. A *Server is an http.Handler; mount it at the root of an
// httptest.Server (or run cmd/mightycall-emulator) and give the client the base
// URL "http://127.0.0.1:PORT/v4".
//
// # Faithful to what MightyCall publishes
//
// From MightyCall's "Authentication via API" pages (Call Center and Classic):
//
//   - The token endpoint is POST {base}/auth/token with the header x-api-key
//     (the account's API key) and Content-Type
//     application/x-www-form-urlencoded.
//   - Client credentials: grant_type=client_credentials, client_id=<API key>,
//     client_secret=<User key>; on a Classic account the user's extension is
//     also accepted as client_secret (never on Call Center).
//   - Refresh: the same endpoint and x-api-key header, with a body that carries
//     only grant_type=refresh_token and refresh_token=<token>; the emulator
//     rejects any other parameter, because the docs say to remove them.
//   - A token is valid for 24 hours; a refresh issues a new bearer token and
//     restarts the 24 hours.
//   - API key and User key do not expire until deleted or regenerated
//     (RemoveAccount, RegenerateUserKey).
//   - API responses use the envelope {"data": ..., "isSuccess": true|false};
//     GET {base}/ping answers without a token.
//
// # Our assumptions (unconfirmed by MightyCall)
//
//   - The success body {"access_token","token_type":"bearer","expires_in",
//     "refresh_token"} and its field names come from public client code.
//   - Errors are OAuth-style JSON {"error":"...","error_description":"..."}:
//     400 invalid_client for bad credentials (as seen in public client code),
//     400 invalid_grant for an unknown, used, expired or foreign refresh
//     token, 400 invalid_request for a malformed request, 400
//     unsupported_grant_type. A missing or unknown x-api-key answers 401
//     invalid_client; a method other than POST answers 405.
//   - Refresh tokens are single-use by default (Options.ReusableRefreshTokens
//     makes them reusable) and live 30 days unless used.
//   - Issuing a token (by either grant) does not invalidate the account's other
//     access tokens; regenerating a User key does not revoke tokens already
//     issued (it only changes what client_credentials accepts); removing an
//     account revokes all its tokens.
//   - GET {base}/api/profile answers 200 with isSuccess true for a live token
//     sent with the x-api-key of the same account, and 401 otherwise.
//   - Call Center and Classic accounts are served by one emulator at one base
//     URL; the real service uses ccapi.mightycall.com and api.mightycall.com.
//
// # Introspection and faults
//
// Stats, Requests, TokenValid, RefreshTokenValid and ExpireAll let tests see
// and change the state MightyCall would hold. InjectFault queues faults that
// matching token requests consume in FIFO order. The same controls are
// available over HTTP under /_emulator/ (see the Server type) for the demo and
// for tests that run the emulator as a separate process.
package emulator

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Routes served by a Server, relative to its root.
const (
	BasePath      = "/v4"
	TokenPath     = BasePath + "/auth/token"
	ProfilePath   = BasePath + "/api/profile"
	PingPath      = BasePath + "/ping"
	ControlPrefix = "/_emulator/"
)

// Platforms of an Account.
const (
	PlatformCallCenter = "callcenter"
	PlatformClassic    = "classic"
)

// Grant types understood by the token endpoint.
const (
	GrantClientCredentials = "client_credentials"
	GrantRefreshToken      = "refresh_token"
)

// Error codes in token error bodies ({"error": code}).
const (
	ErrInvalidClient        = "invalid_client"
	ErrInvalidRequest       = "invalid_request"
	ErrInvalidGrant         = "invalid_grant"
	ErrUnsupportedGrantType = "unsupported_grant_type"
	// ErrMethodNotAllowed is the Stats key of a 405 answer (its body says
	// invalid_request).
	ErrMethodNotAllowed = "method_not_allowed"
)

// Lifetimes.
const (
	DefaultTokenTTL = 24 * time.Hour
	RefreshTokenTTL = 30 * 24 * time.Hour
)

// maxFormBytes bounds a token request body.
const maxFormBytes = 64 << 10

// Options configure a Server. The zero value is MightyCall's documented
// behaviour plus our assumptions (see the package comment).
type Options struct {
	// Now is the clock used for token lifetimes; nil means time.Now.
	Now func() time.Time
	// TokenTTL is the access token lifetime and the expires_in answered;
	// 0 means 24h.
	TokenTTL time.Duration
	// ReusableRefreshTokens keeps a refresh token valid after use (until it
	// expires). By default a refresh token is single-use.
	ReusableRefreshTokens bool
	// OmitExpiresIn leaves expires_in out of successful token responses.
	OmitExpiresIn bool
	// OmitRefreshToken leaves refresh_token out of successful token responses
	// (and issues none). A refresh token used to refresh is still consumed.
	OmitRefreshToken bool
	// Logf, if set, receives one line per request: method, route, grant type,
	// status and error code. It never receives a key or token value.
	Logf func(format string, args ...any)
}

// Account is a MightyCall account with one user's credentials.
type Account struct {
	APIKey    string
	UserKey   string
	Extension string
	// Platform is PlatformCallCenter (the default when empty) or
	// PlatformClassic. Only on Classic is Extension accepted as
	// client_secret.
	Platform string
}

// Stats counts what the server has answered. Counters only grow.
type Stats struct {
	// TokenRequests counts every request to the token route.
	TokenRequests int
	// ClientCredentials, RefreshToken and OtherGrant count token requests by
	// the grant_type in their form body (a request without one is in none).
	ClientCredentials int
	RefreshToken      int
	OtherGrant        int
	// Success counts token requests that issued a token, including those
	// whose response a fault then shaped.
	Success int
	// Errors counts error answers of the token endpoint by error code
	// (ErrInvalidClient, ..., ErrMethodNotAllowed).
	Errors map[string]int
	// Faults counts token requests that consumed an injected fault.
	Faults int
	// ProfileOK and ProfileUnauthorized count GET /v4/api/profile answers.
	ProfileOK           int
	ProfileUnauthorized int
}

// Request is the record of one token request.
type Request struct {
	Time        time.Time // per Options.Now, when it was received
	Method      string
	Path        string
	Header      http.Header // a copy
	ContentType string      // the raw Content-Type header
	Body        string      // the raw body (up to 64 KiB)
	Form        url.Values  // the parsed body, nil unless it was a valid form body
	Grant       string      // grant_type from Form
	// Status is the status answered; 0 if the connection was reset by a
	// fault, the client went away first, or the answer is still pending.
	Status int
	// Error is the error code answered (see Stats.Errors), if any.
	Error string
	// Fault reports whether the request consumed an injected fault.
	Fault bool
}

// Server emulates MightyCall's token endpoint. It is safe for concurrent use.
//
// Besides the /v4 routes it serves a JSON control API:
//
//	POST   /_emulator/accounts           an Account          AddAccount
//	DELETE /_emulator/accounts/{apiKey}                      RemoveAccount
//	POST   /_emulator/faults             a Fault             InjectFault
//	DELETE /_emulator/faults                                 ClearFaults
//	GET    /_emulator/stats              -> Stats            Stats
//	POST   /_emulator/expire                                 ExpireAll
type Server struct {
	opts Options
	mux  *http.ServeMux

	mu       sync.Mutex
	accounts map[string]*account
	access   map[string]*accessToken
	refresh  map[string]*refreshToken
	faults   []*queuedFault
	stats    Stats
	requests []Request
	nextID   int
}

type account struct {
	Account
	id string
}

type accessToken struct {
	apiKey  string
	expires time.Time
}

type refreshToken struct {
	apiKey  string
	expires time.Time
	used    bool
}

// New returns a Server with no accounts.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	s := &Server{
		opts:     opts,
		accounts: map[string]*account{},
		access:   map[string]*accessToken{},
		refresh:  map[string]*refreshToken{},
		stats:    Stats{Errors: map[string]int{}},
	}
	mux := http.NewServeMux()
	mux.HandleFunc(TokenPath, s.handleToken)
	mux.HandleFunc(ProfilePath, s.handleProfile)
	mux.HandleFunc(PingPath, s.handlePing)
	s.registerControl(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeEnvelopeError(w, http.StatusNotFound, "not_found", "no such route")
	})
	s.mux = mux
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	if s.opts.Logf != nil {
		start := time.Now()
		defer func() {
			s.logRequest(r, sw, time.Since(start))
		}()
	}
	s.mux.ServeHTTP(sw, r)
}

// AddAccount adds a, or replaces the account with the same API key (tokens
// already issued to it stay valid).
func (s *Server) AddAccount(a Account) {
	if a.Platform == "" {
		a.Platform = PlatformCallCenter
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.accounts[a.APIKey]; ok {
		s.accounts[a.APIKey] = &account{Account: a, id: old.id}
		return
	}
	s.nextID++
	s.accounts[a.APIKey] = &account{Account: a, id: fmt.Sprintf("emulated-user-%d", s.nextID)}
}

// RemoveAccount deletes the account (its keys are revoked): afterwards both
// grants answer invalid_client and the tokens issued to it stop working.
func (s *Server) RemoveAccount(apiKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(apiKey)
}

func (s *Server) removeLocked(apiKey string) bool {
	if _, ok := s.accounts[apiKey]; !ok {
		return false
	}
	delete(s.accounts, apiKey)
	for tok, at := range s.access {
		if at.apiKey == apiKey {
			delete(s.access, tok)
		}
	}
	for tok, rt := range s.refresh {
		if rt.apiKey == apiKey {
			delete(s.refresh, tok)
		}
	}
	return true
}

// RegenerateUserKey replaces the User key of the account; the old one stops
// being accepted as client_secret. Tokens already issued stay valid (an
// assumption). Unknown API keys are ignored.
func (s *Server) RegenerateUserKey(apiKey, newUserKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.accounts[apiKey]; ok {
		a.UserKey = newUserKey
	}
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Errors = make(map[string]int, len(s.stats.Errors))
	for k, v := range s.stats.Errors {
		st.Errors[k] = v
	}
	return st
}

// Requests returns a copy of the log of token requests, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Header = r.Header.Clone()
		if r.Form != nil {
			f := make(url.Values, len(r.Form))
			for k, v := range r.Form {
				f[k] = append([]string(nil), v...)
			}
			r.Form = f
		}
		out[i] = r
	}
	return out
}

// TokenValid reports whether accessToken is a live access token of an
// existing account (per Options.Now).
func (s *Server) TokenValid(accessToken string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.liveAccessLocked(accessToken, s.opts.Now())
	return ok
}

// RefreshTokenValid reports whether the token endpoint would still accept
// refreshToken (for the account it was issued to).
func (s *Server) RefreshTokenValid(refreshToken string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshUsableLocked(refreshToken, s.opts.Now()) == ""
}

// ExpireAll makes every access token issued so far expired. Refresh tokens
// are not affected.
func (s *Server) ExpireAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	for _, at := range s.access {
		if now.Before(at.expires) {
			at.expires = now
		}
	}
}

func (s *Server) liveAccessLocked(tok string, now time.Time) (*accessToken, bool) {
	at, ok := s.access[tok]
	if !ok || tok == "" {
		return nil, false
	}
	if _, ok := s.accounts[at.apiKey]; !ok {
		return nil, false
	}
	return at, now.Before(at.expires)
}

// refreshUsableLocked returns "" if tok can be used for a refresh, else why
// not.
func (s *Server) refreshUsableLocked(tok string, now time.Time) string {
	rt, ok := s.refresh[tok]
	switch {
	case !ok || tok == "":
		return "unknown refresh token"
	case s.accounts[rt.apiKey] == nil:
		return "unknown refresh token"
	case rt.used && !s.opts.ReusableRefreshTokens:
		return "refresh token already used"
	case !now.Before(rt.expires):
		return "refresh token expired"
	}
	return ""
}

// ---- token endpoint ----

type tokenOutcome struct {
	status  int
	code    string // error code, "" on success
	desc    string
	access  string
	refresh string
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	sw, _ := w.(*statusWriter)
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	ct := r.Header.Get("Content-Type")
	isForm := isFormContentType(ct)
	var form url.Values
	var formErr error
	if isForm && readErr == nil {
		form, formErr = url.ParseQuery(string(body))
		if formErr != nil {
			form = nil
		}
	}
	grant := form.Get("grant_type")
	if sw != nil {
		sw.grant = grant
	}

	s.mu.Lock()
	idx := len(s.requests)
	s.requests = append(s.requests, Request{
		Time:        s.opts.Now(),
		Method:      r.Method,
		Path:        r.URL.Path,
		Header:      r.Header.Clone(),
		ContentType: ct,
		Body:        string(body),
		Form:        form,
		Grant:       grant,
	})
	s.stats.TokenRequests++
	switch {
	case grant == GrantClientCredentials:
		s.stats.ClientCredentials++
	case grant == GrantRefreshToken:
		s.stats.RefreshToken++
	case grant != "":
		s.stats.OtherGrant++
	}
	var fault *Fault
	if r.Method == http.MethodPost {
		fault = s.takeFaultLocked(grant)
		if fault != nil {
			s.stats.Faults++
			s.requests[idx].Fault = true
		}
	}
	s.mu.Unlock()

	if fault != nil {
		if sw != nil {
			sw.note = "fault"
		}
		if fault.Delay > 0 {
			t := time.NewTimer(fault.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				if sw != nil {
					sw.note = "fault: client went away during delay"
				}
				return
			}
		}
		if fault.Reset {
			if sw != nil {
				sw.note = "fault: connection reset"
			}
			abortConnection(w)
			return
		}
		if fault.Status != 0 {
			writeFaultStatus(w, fault)
			s.setOutcome(idx, fault.Status, "")
			return
		}
	}

	out := s.exchange(r, form, readErr, formErr, isForm)
	s.setOutcome(idx, out.status, out.code)
	if out.code != "" {
		if sw != nil {
			sw.note = out.code
		}
		if out.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, out.status, orderedJSON(kv{"error", ErrInvalidRequest}, kv{"error_description", out.desc}))
			return
		}
		writeJSON(w, out.status, orderedJSON(kv{"error", out.code}, kv{"error_description", out.desc}))
		return
	}
	s.writeToken(w, out, fault)
}

func (s *Server) setOutcome(idx, status int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[idx].Status = status
	s.requests[idx].Error = code
}

func isFormContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// exchange applies the wire rules and, on success, issues tokens.
func (s *Server) exchange(r *http.Request, form url.Values, readErr, formErr error, isForm bool) tokenOutcome {
	// Random values are drawn before taking the lock.
	access, refresh := randomToken(), randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.exchangeLocked(r, form, readErr, formErr, isForm, access, refresh)
	if out.code != "" {
		s.stats.Errors[out.code]++
	}
	return out
}

func (s *Server) exchangeLocked(r *http.Request, form url.Values, readErr, formErr error, isForm bool, access, refresh string) tokenOutcome {
	fail := func(status int, code, desc string) tokenOutcome {
		return tokenOutcome{status: status, code: code, desc: desc}
	}
	if r.Method != http.MethodPost {
		return fail(http.StatusMethodNotAllowed, ErrMethodNotAllowed, "the token endpoint accepts only POST")
	}
	keys := r.Header.Values("X-Api-Key")
	if len(keys) != 1 || keys[0] == "" {
		return fail(http.StatusUnauthorized, ErrInvalidClient, "exactly one x-api-key header is required")
	}
	apiKey := keys[0]
	acct := s.accounts[apiKey]
	if acct == nil {
		return fail(http.StatusUnauthorized, ErrInvalidClient, "unknown x-api-key")
	}
	if !isForm {
		return fail(http.StatusBadRequest, ErrInvalidRequest, "Content-Type must be application/x-www-form-urlencoded")
	}
	if readErr != nil {
		return fail(http.StatusBadRequest, ErrInvalidRequest, "request body unreadable or too large")
	}
	if formErr != nil {
		return fail(http.StatusBadRequest, ErrInvalidRequest, "malformed form body")
	}
	for k, v := range form {
		if len(v) > 1 {
			return fail(http.StatusBadRequest, ErrInvalidRequest, fmt.Sprintf("parameter %q repeated", k))
		}
	}

	switch form.Get("grant_type") {
	case "":
		return fail(http.StatusBadRequest, ErrInvalidRequest, "grant_type is required")

	case GrantClientCredentials:
		id, secret := form.Get("client_id"), form.Get("client_secret")
		if id == "" || secret == "" {
			return fail(http.StatusBadRequest, ErrInvalidRequest, "client_id and client_secret are required")
		}
		if !secretEqual(id, apiKey) {
			return fail(http.StatusBadRequest, ErrInvalidClient, "client_id does not match x-api-key")
		}
		ok := acct.UserKey != "" && secretEqual(secret, acct.UserKey)
		if !ok && acct.Platform == PlatformClassic && acct.Extension != "" {
			ok = secretEqual(secret, acct.Extension)
		}
		if !ok {
			return fail(http.StatusBadRequest, ErrInvalidClient, "invalid client_secret")
		}
		return s.issueLocked(apiKey, access, refresh)

	case GrantRefreshToken:
		var extra []string
		for k := range form {
			if k != "grant_type" && k != "refresh_token" {
				extra = append(extra, k)
			}
		}
		if len(extra) > 0 {
			sort.Strings(extra)
			return fail(http.StatusBadRequest, ErrInvalidRequest,
				"a refresh_token request carries only grant_type and refresh_token; remove: "+strings.Join(extra, ", "))
		}
		tok := form.Get("refresh_token")
		if tok == "" {
			return fail(http.StatusBadRequest, ErrInvalidRequest, "refresh_token is required")
		}
		if why := s.refreshUsableLocked(tok, s.opts.Now()); why != "" {
			return fail(http.StatusBadRequest, ErrInvalidGrant, why)
		}
		rt := s.refresh[tok]
		if rt.apiKey != apiKey {
			return fail(http.StatusBadRequest, ErrInvalidGrant, "refresh token was issued to another client")
		}
		if !s.opts.ReusableRefreshTokens {
			rt.used = true
		}
		return s.issueLocked(apiKey, access, refresh)

	default:
		return fail(http.StatusBadRequest, ErrUnsupportedGrantType, "supported grant types: client_credentials, refresh_token")
	}
}

func (s *Server) issueLocked(apiKey, access, refresh string) tokenOutcome {
	now := s.opts.Now()
	s.access[access] = &accessToken{apiKey: apiKey, expires: now.Add(s.opts.TokenTTL)}
	if s.opts.OmitRefreshToken {
		refresh = ""
	} else {
		s.refresh[refresh] = &refreshToken{apiKey: apiKey, expires: now.Add(RefreshTokenTTL)}
	}
	s.stats.Success++
	return tokenOutcome{status: http.StatusOK, access: access, refresh: refresh}
}

func (s *Server) writeToken(w http.ResponseWriter, out tokenOutcome, f *Fault) {
	var fields []kv
	if f == nil || !f.OmitAccessToken {
		fields = append(fields, kv{"access_token", out.access})
	}
	fields = append(fields, kv{"token_type", "bearer"})
	switch {
	case f != nil && f.ExpiresIn != nil:
		fields = append(fields, kv{"expires_in", f.ExpiresIn})
	case !s.opts.OmitExpiresIn:
		fields = append(fields, kv{"expires_in", int64(s.opts.TokenTTL / time.Second)})
	}
	if out.refresh != "" {
		fields = append(fields, kv{"refresh_token", out.refresh})
	}
	body := orderedJSON(fields...)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if f == nil || (!f.Truncate && f.OversizeBytes <= 0) {
		writeJSON(w, http.StatusOK, body)
		return
	}
	writeShaped(w, body, f)
}

func secretEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// randomToken returns 32 random bytes, base64url-encoded.
func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("emulator: crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ---- profile and ping ----

func (s *Server) handleProfile(w http.ResponseWriter, r *http.Request) {
	sw, _ := w.(*statusWriter)
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeEnvelopeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
		return
	}
	unauthorized := func(msg string) {
		s.mu.Lock()
		s.stats.ProfileUnauthorized++
		s.mu.Unlock()
		if sw != nil {
			sw.note = "unauthorized"
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeEnvelopeError(w, http.StatusUnauthorized, "unauthorized", msg)
	}
	scheme, tok, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		unauthorized("Authorization: Bearer <access token> is required")
		return
	}
	apiKey := r.Header.Get("X-Api-Key")
	s.mu.Lock()
	at, live := s.liveAccessLocked(tok, s.opts.Now())
	var acct *account
	if at != nil {
		acct = s.accounts[at.apiKey]
	}
	s.mu.Unlock()
	switch {
	case at == nil:
		unauthorized("invalid access token")
		return
	case !live:
		unauthorized("access token expired")
		return
	case apiKey == "" || !secretEqual(apiKey, at.apiKey):
		unauthorized("access token does not belong to x-api-key")
		return
	}
	s.mu.Lock()
	s.stats.ProfileOK++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, orderedJSON(
		kv{"data", orderedJSONValue(
			kv{"id", acct.id},
			kv{"firstName", "Emulated"},
			kv{"lastName", "User"},
			kv{"platform", acct.Platform},
			kv{"role", "Manager"},
		)},
		kv{"isSuccess", true},
	))
}

func (s *Server) handlePing(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeEnvelopeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
		return
	}
	writeJSON(w, http.StatusOK, orderedJSON(kv{"data", "pong"}, kv{"isSuccess", true}))
}

func writeEnvelopeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, orderedJSON(
		kv{"isSuccess", false},
		kv{"error", orderedJSONValue(kv{"code", code}, kv{"message", msg})},
	))
}
