package control

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxDocumentSize is the largest distribution document the API accepts;
// a larger body is answered 413.
const MaxDocumentSize = 1 << 20

// API returns the control plane's HTTP API over store, for the caller to
// mount under "/api/v1/" (it routes on the full path, so no StripPrefix).
// Every request must carry "Authorization: Bearer <token>"; an empty token
// is an error, never an open API.
//
// Endpoints (documents are YAML or JSON; send Content-Type
// application/yaml or application/json):
//
//	GET    /api/v1/distributions              200 {"distributions": [metadata...]}
//	POST   /api/v1/distributions              201, ETag, Location; body: document
//	GET    /api/v1/distributions/{id}         200 the document as stored, ETag
//	PUT    /api/v1/distributions/{id}         200, ETag; If-Match required
//	DELETE /api/v1/distributions/{id}         204; If-Match required
//	POST   /api/v1/distributions/{id}/enable  200, ETag; If-Match required
//	POST   /api/v1/distributions/{id}/disable 200, ETag; If-Match required
//
// Metadata is {"id", "revision", "etag", "enabled", "aliases",
// "modified"}; writes answer with it. GET of one distribution answers with
// its document as stored (Content-Type application/json if it is JSON,
// else application/yaml), unless Accept names application/json: then with
// the metadata and the document as a string, {"document": "..."}.
//
// The ETag is the distribution's revision in quotes, `"42"`. If-Match
// takes it (a bare 42 too), a list of them, or "*"; a missing If-Match is
// answered 428, a stale one 412, as CloudFront does.
//
// Errors are JSON, {"error": "...", "fields": [{"field", "problem"}]}:
// 400 an invalid document (fields lists every problem) or header, 401
// without the right token, 404, 405, 409 an id already taken, 412, 413, 415
// another content type, 428.
//
// Options add endpoints: WithEdges.
func API(store *Store, token string, opts ...APIOption) (http.Handler, error) {
	if store == nil {
		return nil, errors.New("control API: no store")
	}
	if token == "" {
		return nil, errors.New("control API: empty token: refusing to serve the API without authentication")
	}
	a := &api{store: store, tokenSum: sha256.Sum256([]byte(token)), log: slog.Default().With("component", "control-api")}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/distributions", a.distributions)
	mux.HandleFunc("/api/v1/distributions/{id}", a.distribution)
	mux.HandleFunc("/api/v1/distributions/{id}/{action}", a.action)
	for _, o := range opts {
		o(mux)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, &statusError{http.StatusNotFound, "no such endpoint: " + r.URL.Path})
	})
	a.mux = mux
	return a, nil
}

// APIOption adds endpoints to the API.
type APIOption func(*http.ServeMux)

// WithEdges serves GET /api/v1/edges: the edges the control plane hears
// from, with their POP, version, config revision, liveness and last
// heartbeat.
func WithEdges(e *Edges) APIOption {
	return func(mux *http.ServeMux) { mux.Handle("/api/v1/edges", e) }
}

type api struct {
	store    *Store
	tokenSum [sha256.Size]byte
	mux      *http.ServeMux
	log      *slog.Logger
}

// ServeHTTP authenticates the request, then routes it.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if problem := a.authenticate(r); problem != "" {
		// RFC 6750 section 3: the challenge, with error="invalid_token"
		// when a token was presented but is not the right one.
		challenge := `Bearer realm="tern"`
		if r.Header.Get("Authorization") != "" {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		a.fail(w, r, &statusError{http.StatusUnauthorized, problem})
		return
	}
	a.mux.ServeHTTP(w, r)
}

// authenticate returns "" if r carries the bearer token, else why not.
func (a *api) authenticate(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "authentication required: send Authorization: Bearer <token>"
	}
	// The scheme is case-insensitive (RFC 9110 section 11.1).
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "unsupported authorization: send Authorization: Bearer <token>"
	}
	// Comparing hashes takes the same time whatever the token's length
	// and content.
	sum := sha256.Sum256([]byte(strings.TrimSpace(cred)))
	if subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) != 1 {
		return "invalid token"
	}
	return ""
}

func (a *api) distributions(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		ds, err := a.store.List(r.Context())
		if err != nil {
			a.fail(w, r, err)
			return
		}
		out := struct {
			Distributions []metadata `json:"distributions"`
		}{make([]metadata, len(ds))}
		for i, d := range ds {
			out.Distributions[i] = metadataOf(d, false)
		}
		writeJSON(w, http.StatusOK, out)
	case http.MethodPost:
		doc, err := readDocument(w, r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		d, err := a.store.Create(r.Context(), doc)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		w.Header().Set("Location", "/api/v1/distributions/"+d.ID)
		a.written(w, http.StatusCreated, d)
	default:
		a.notAllowed(w, r, "GET, HEAD, POST")
	}
}

func (a *api) distribution(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		d, err := a.store.Get(r.Context(), id)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		w.Header().Set("ETag", etag(d.Revision))
		w.Header().Set("Vary", "Accept")
		// RFC 9110 section 13.1.2: weak comparison, so W/"42" matches too.
		if inm := r.Header.Get("If-None-Match"); inm != "" && noneMatchHit(inm, d.Revision) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if acceptsJSON(r) {
			writeJSON(w, http.StatusOK, metadataOf(d, true))
			return
		}
		w.Header().Set("Content-Type", documentType(d.Document))
		w.Header().Set("Content-Length", strconv.Itoa(len(d.Document)))
		w.WriteHeader(http.StatusOK)
		w.Write(d.Document)
	case http.MethodPut:
		rev, err := a.expected(r, id)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		doc, err := readDocument(w, r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		d, err := a.store.Update(r.Context(), id, doc, rev)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.written(w, http.StatusOK, d)
	case http.MethodDelete:
		rev, err := a.expected(r, id)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if err := a.store.Delete(r.Context(), id, rev); err != nil {
			a.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		a.notAllowed(w, r, "GET, HEAD, PUT, DELETE")
	}
}

func (a *api) action(w http.ResponseWriter, r *http.Request) {
	var enabled bool
	switch r.PathValue("action") {
	case "enable":
		enabled = true
	case "disable":
	default:
		a.fail(w, r, &statusError{http.StatusNotFound, "no such endpoint: " + r.URL.Path})
		return
	}
	if r.Method != http.MethodPost {
		a.notAllowed(w, r, "POST")
		return
	}
	id := r.PathValue("id")
	rev, err := a.expected(r, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := a.store.SetEnabled(r.Context(), id, enabled, rev)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.written(w, http.StatusOK, d)
}

// expected returns the revision r's If-Match requires distribution id to
// be at (RFC 9110 section 13.1.1), or an error: 428 if there is none (RFC
// 6585 section 3; CloudFront requires it too), 400 if it is malformed, 412
// if it names no current revision.
func (a *api) expected(r *http.Request, id string) (uint64, error) {
	values := r.Header.Values("If-Match")
	if len(values) == 0 {
		return 0, &statusError{http.StatusPreconditionRequired, `If-Match is required: send the distribution's ETag (If-Match: "<revision>")`}
	}
	m, err := parseIfMatch(strings.Join(values, ","))
	if err != nil {
		return 0, &statusError{http.StatusBadRequest, err.Error()}
	}
	if !m.any && len(m.revisions) == 1 {
		return m.revisions[0], nil // the store compares it with the current one
	}
	// "*" or a list: which one is current decides.
	d, err := a.store.Get(r.Context(), id)
	if err != nil {
		return 0, err
	}
	if m.matches(d.Revision) {
		return d.Revision, nil
	}
	return 0, fmt.Errorf("distribution %q is at revision %d, which If-Match does not name: %w", id, d.Revision, ErrRevisionMismatch)
}

// readDocument reads a document from r's body: at most MaxDocumentSize
// bytes, of a YAML or JSON content type.
func readDocument(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || !documentTypes[mt] || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
			return nil, &statusError{http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q: send a distribution document as application/yaml or application/json (UTF-8)", ct)}
		}
	}
	doc, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxDocumentSize))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &statusError{http.StatusRequestEntityTooLarge, fmt.Sprintf("document larger than %d bytes", MaxDocumentSize)}
		}
		return nil, &statusError{http.StatusBadRequest, "read document: " + err.Error()}
	}
	return doc, nil
}

// documentTypes are the content types a document may be sent as. JSON is
// YAML, so one parser reads both.
var documentTypes = map[string]bool{
	"application/yaml":   true, // RFC 9512
	"application/x-yaml": true,
	"text/yaml":          true,
	"text/x-yaml":        true,
	"application/json":   true,
}

// documentType is the content type of a stored document.
func documentType(doc []byte) string {
	if t := bytes.TrimSpace(doc); len(t) > 0 && t[0] == '{' && json.Valid(t) {
		return "application/json"
	}
	return "application/yaml"
}

// acceptsJSON reports whether r's Accept names application/json (with a
// non-zero q): the caller wants metadata, not the raw document.
func acceptsJSON(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != "application/json" {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}

// metadata is a distribution as the API describes it.
type metadata struct {
	ID       string    `json:"id"`
	Revision uint64    `json:"revision"`
	ETag     string    `json:"etag"`
	Enabled  bool      `json:"enabled"`
	Aliases  []string  `json:"aliases"`
	Modified time.Time `json:"modified"`
	Document *string   `json:"document,omitempty"`
}

func metadataOf(d Distribution, withDocument bool) metadata {
	m := metadata{
		ID:       d.ID,
		Revision: d.Revision,
		ETag:     etag(d.Revision),
		Enabled:  d.Enabled,
		Aliases:  d.Aliases,
		Modified: d.Modified.UTC().Truncate(time.Millisecond),
	}
	if m.Aliases == nil {
		m.Aliases = []string{}
	}
	if withDocument {
		doc := string(d.Document)
		m.Document = &doc
	}
	return m
}

// written answers a successful write with the new ETag and metadata.
func (a *api) written(w http.ResponseWriter, status int, d Distribution) {
	w.Header().Set("ETag", etag(d.Revision))
	writeJSON(w, status, metadataOf(d, false))
}

// statusError is a request the API refuses before reaching the store.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// errorBody is every error answer.
type errorBody struct {
	Error  string    `json:"error"`
	Fields []Problem `json:"fields,omitempty"`
}

// fail answers err: the one place errors become responses.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	body := errorBody{Error: err.Error()}
	var status int
	if se, ok := errors.AsType[*statusError](err); ok {
		status = se.status
	} else if ie, ok := errors.AsType[*InvalidError](err); ok {
		status = http.StatusBadRequest
		body.Error, body.Fields = ie.Error(), ie.Problems
	} else {
		switch {
		case errors.Is(err, ErrNotFound):
			status = http.StatusNotFound
		case errors.Is(err, ErrExists):
			status = http.StatusConflict
		case errors.Is(err, ErrRevisionMismatch):
			status = http.StatusPreconditionFailed
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			status = http.StatusServiceUnavailable
		default:
			status = http.StatusInternalServerError
		}
	}
	if status >= 500 {
		a.log.Error("control API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, body)
}

func (a *api) notAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	a.fail(w, r, &statusError{http.StatusMethodNotAllowed, r.Method + " is not allowed here; allowed: " + allow})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only plain structs are marshalled
		panic(fmt.Sprintf("control API: encode response: %v", err))
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
