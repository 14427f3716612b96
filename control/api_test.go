package control

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/terncdn/tern/bus"
)

const testBase = `
edge: {listen: "127.0.0.1:0", node_id: n1}
admin: {listen: "off"}
cache_policies:
  - name: Short
    default_ttl: 5s
`

const testToken = "s3cret-token"

// newKV starts an embedded NATS server in a fresh directory and opens the
// config bucket on an in-process connection.
func newKV(t *testing.T) *bus.KV {
	t.Helper()
	s, err := bus.Start(bus.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("start NATS: %v", err)
	}
	t.Cleanup(s.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := s.Connect(ctx, "control-test")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(c.Close)
	if err := c.EnsureBuckets(ctx, bus.BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	kv, err := c.KV(ctx, bus.ConfigBucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// testAPI is the API over a fresh store, served by httptest.
type testAPI struct {
	t   *testing.T
	kv  *bus.KV
	srv *httptest.Server
}

func newTestAPI(t *testing.T) *testAPI {
	t.Helper()
	kv := newKV(t)
	store, err := NewStore(kv, []byte(testBase), "tern.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h, err := API(store, testToken)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", h) // as the caller mounts it
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &testAPI{t: t, kv: kv, srv: srv}
}

type response struct {
	status int
	header http.Header
	body   string
}

// errorBody decodes an error answer.
func (r response) errorBody(t *testing.T) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error == "" {
		t.Fatalf("error body %q is not {\"error\": ...}: %v", r.body, err)
	}
	return e
}

func (r response) metadata(t *testing.T) metadata {
	t.Helper()
	var m metadata
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// do sends a request with the right token and a YAML body, unless headers
// say otherwise ("Authorization": "" sends none).
func (a *testAPI) do(method, path, body string, headers ...string) response {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/yaml")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := a.srv.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

// stored returns the keys in the config bucket.
func (a *testAPI) stored() []string {
	a.t.Helper()
	es, err := a.kv.List(context.Background(), "")
	if err != nil {
		a.t.Fatal(err)
	}
	var keys []string
	for _, e := range es {
		keys = append(keys, e.Key)
	}
	return keys
}

func dist(id, alias string) string {
	return fmt.Sprintf("id: %s\naliases: [%s]\norigins: [{id: o, domain_name: origin.example.org}]\ndefault_cache_behavior: {target_origin_id: o, cache_policy: Short}\n", id, alias)
}

func want(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
}

func TestDistributionLifecycle(t *testing.T) {
	a := newTestAPI(t)
	doc := "# the media site\n" + dist("media", "media.example.com")

	r := a.do("POST", "/api/v1/distributions", doc)
	want(t, r, http.StatusCreated)
	if loc := r.header.Get("Location"); loc != "/api/v1/distributions/media" {
		t.Errorf("Location %q", loc)
	}
	m := r.metadata(t)
	if m.ID != "media" || !m.Enabled || len(m.Aliases) != 1 || m.Aliases[0] != "media.example.com" || r.header.Get("ETag") != etag(m.Revision) {
		t.Errorf("created: %+v, ETag %q", m, r.header.Get("ETag"))
	}
	tag1 := r.header.Get("ETag")

	// GET answers the document exactly as sent, with the same ETag.
	r = a.do("GET", "/api/v1/distributions/media", "")
	want(t, r, http.StatusOK)
	if r.body != doc || r.header.Get("ETag") != tag1 || r.header.Get("Content-Type") != "application/yaml" {
		t.Errorf("GET: %q (%s), ETag %q", r.body, r.header.Get("Content-Type"), r.header.Get("ETag"))
	}
	want(t, a.do("GET", "/api/v1/distributions/media", "", "If-None-Match", tag1), http.StatusNotModified)
	// With Accept: application/json, metadata and the document.
	r = a.do("GET", "/api/v1/distributions/media", "", "Accept", "application/json")
	if m := r.metadata(t); m.ID != "media" || m.Document == nil || *m.Document != doc || m.ETag != tag1 {
		t.Errorf("GET as JSON: %s", r.body)
	}

	// The list.
	a.do("POST", "/api/v1/distributions", `{"id": "api", "aliases": ["api.example.com"], "enabled": false,
  "origins": [{"id": "o", "domain_name": "api.internal"}], "default_cache_behavior": {"target_origin_id": "o"}}`, "Content-Type", "application/json")
	r = a.do("GET", "/api/v1/distributions", "")
	want(t, r, http.StatusOK)
	var list struct{ Distributions []metadata }
	if err := json.Unmarshal([]byte(r.body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Distributions) != 2 || list.Distributions[0].ID != "api" || list.Distributions[0].Enabled ||
		list.Distributions[1].ID != "media" || !list.Distributions[1].Enabled || list.Distributions[1].Aliases[0] != "media.example.com" {
		t.Errorf("list: %s", r.body)
	}
	if r := a.do("GET", "/api/v1/distributions/api", ""); r.header.Get("Content-Type") != "application/json" {
		t.Errorf("a JSON document is served as %q", r.header.Get("Content-Type"))
	}

	// PUT needs the current ETag.
	doc2 := strings.Replace(doc, "media.example.com", "media2.example.com", 1)
	want(t, a.do("PUT", "/api/v1/distributions/media", doc2), http.StatusPreconditionRequired)
	r = a.do("PUT", "/api/v1/distributions/media", doc2, "If-Match", tag1)
	want(t, r, http.StatusOK)
	tag2 := r.header.Get("ETag")
	if tag2 == tag1 || r.metadata(t).Aliases[0] != "media2.example.com" {
		t.Errorf("updated: ETag %q, %s", tag2, r.body)
	}
	want(t, a.do("PUT", "/api/v1/distributions/media", doc, "If-Match", tag1), http.StatusPreconditionFailed)
	if r := a.do("GET", "/api/v1/distributions/media", ""); r.body != doc2 {
		t.Errorf("a stale PUT changed the document: %q", r.body)
	}

	// Disable keeps the text, changes the ETag; disabling again changes nothing.
	want(t, a.do("POST", "/api/v1/distributions/media/disable", ""), http.StatusPreconditionRequired)
	r = a.do("POST", "/api/v1/distributions/media/disable", "", "If-Match", tag2)
	want(t, r, http.StatusOK)
	tag3 := r.header.Get("ETag")
	if r.metadata(t).Enabled || tag3 == tag2 {
		t.Errorf("disabled: %s", r.body)
	}
	if r := a.do("GET", "/api/v1/distributions/media", ""); r.body != "# the media site\nenabled: false\n"+strings.TrimPrefix(doc2, "# the media site\n") {
		t.Errorf("disabled document:\n%s", r.body)
	}
	if r := a.do("POST", "/api/v1/distributions/media/disable", "", "If-Match", tag3); r.status != http.StatusOK || r.header.Get("ETag") != tag3 {
		t.Errorf("disabling a disabled distribution: %d, ETag %q", r.status, r.header.Get("ETag"))
	}
	r = a.do("POST", "/api/v1/distributions/media/enable", "", "If-Match", tag3)
	want(t, r, http.StatusOK)
	tag4 := r.header.Get("ETag")
	if !r.metadata(t).Enabled {
		t.Errorf("enabled: %s", r.body)
	}

	// DELETE needs the current ETag too.
	want(t, a.do("DELETE", "/api/v1/distributions/media", ""), http.StatusPreconditionRequired)
	want(t, a.do("DELETE", "/api/v1/distributions/media", "", "If-Match", tag3), http.StatusPreconditionFailed)
	want(t, a.do("DELETE", "/api/v1/distributions/media", "", "If-Match", tag4), http.StatusNoContent)
	want(t, a.do("GET", "/api/v1/distributions/media", ""), http.StatusNotFound)
	want(t, a.do("DELETE", "/api/v1/distributions/media", "", "If-Match", tag4), http.StatusNotFound)
	want(t, a.do("PUT", "/api/v1/distributions/media", doc, "If-Match", tag4), http.StatusNotFound)
	// The id is free again.
	want(t, a.do("POST", "/api/v1/distributions", doc), http.StatusCreated)
}

func TestIfMatch(t *testing.T) {
	a := newTestAPI(t)
	for i, c := range []struct {
		ifMatch func(rev uint64) string
		status  int
	}{
		{func(rev uint64) string { return etag(rev) }, http.StatusOK},
		{func(rev uint64) string { return fmt.Sprint(rev) }, http.StatusOK}, // bare, as CloudFront clients send it
		{func(uint64) string { return "*" }, http.StatusOK},
		{func(rev uint64) string { return `"999999", ` + etag(rev) }, http.StatusOK},
		{func(uint64) string { return `"999999"` }, http.StatusPreconditionFailed},
		{func(rev uint64) string { return "W/" + etag(rev) }, http.StatusPreconditionFailed}, // weak never matches
		{func(uint64) string { return `"abc"` }, http.StatusPreconditionFailed},
		{func(uint64) string { return `"unterminated` }, http.StatusBadRequest},
		{func(uint64) string { return "" }, http.StatusPreconditionRequired},
	} {
		id := fmt.Sprintf("d%d", i)
		doc := dist(id, id+".example.com")
		r := a.do("POST", "/api/v1/distributions", doc)
		want(t, r, http.StatusCreated)
		rev := r.metadata(t).Revision
		im := c.ifMatch(rev)
		r = a.do("PUT", "/api/v1/distributions/"+id, strings.Replace(doc, "origin.example.org", "new.example.org", 1), "If-Match", im)
		if r.status != c.status {
			t.Errorf("If-Match %q (current %d): status %d, want %d; %s", im, rev, r.status, c.status, r.body)
		}
		if r.status != http.StatusOK {
			r.errorBody(t)
			if g := a.do("GET", "/api/v1/distributions/"+id, ""); g.body != doc {
				t.Errorf("If-Match %q: refused, but the document changed", im)
			}
		}
	}
}

func TestBadDocumentIsRefused(t *testing.T) {
	a := newTestAPI(t)
	for _, c := range []struct {
		name   string
		doc    string
		fields []string // each must be a field of the answer
	}{
		{"bad port", "id: p\naliases: [p.example]\norigins: [{id: o, domain_name: example.org, http_port: 70000}]\ndefault_cache_behavior: {target_origin_id: o}\n",
			[]string{"origins[0].http_port"}},
		{"every problem", "id: p\naliases: [p.example]\norigins: [{id: o, domain_name: example.org, http_port: 70000}]\ndefault_cache_behavior: {target_origin_id: nope, cache_policy: Nope}\n",
			[]string{"origins[0].http_port", "default_cache_behavior.target_origin_id", "default_cache_behavior.cache_policy"}},
		{"unknown field", "id: u\nalias: [u.example]\n", []string{"line 2"}},
		{"no id", "aliases: [x.example]\norigins: [{id: o, domain_name: example.org}]\ndefault_cache_behavior: {target_origin_id: o}\n", []string{"id"}},
		{"id ending with a dot", dist("a.", "ab.example"), []string{"id"}},
		{"id with an empty token", dist("a..b", "ab.example"), []string{"id"}},
		{"id too long", dist(strings.Repeat("x", 129), "long.example"), []string{"id"}},
		{"not YAML", "id: [\n", nil},
		{"empty", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := a.do("POST", "/api/v1/distributions", c.doc, "Content-Type", "application/yaml")
			want(t, r, http.StatusBadRequest)
			e := r.errorBody(t)
			for _, f := range c.fields {
				found := false
				for _, p := range e.Fields {
					if p.Field == f && p.Problem != "" {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem with field %q in %s", f, r.body)
				}
			}
		})
	}
	if keys := a.stored(); len(keys) != 0 {
		t.Errorf("refused documents reached the KV: %v", keys)
	}
}

func TestTheWholeSetIsValidated(t *testing.T) {
	a := newTestAPI(t)
	want(t, a.do("POST", "/api/v1/distributions", dist("a", "shared.example.com")), http.StatusCreated)
	r := a.do("POST", "/api/v1/distributions", dist("b", "b.example.com"))
	want(t, r, http.StatusCreated)
	tagB := r.header.Get("ETag")

	// Another distribution claiming a's alias, created or updated.
	r = a.do("POST", "/api/v1/distributions", dist("c", "SHARED.example.com"))
	want(t, r, http.StatusBadRequest)
	if e := r.errorBody(t); len(e.Fields) != 1 || e.Fields[0].Field != "aliases[0]" || !strings.Contains(e.Fields[0].Problem, "distribution a") {
		t.Errorf("duplicate alias: %s", r.body)
	}
	r = a.do("PUT", "/api/v1/distributions/b", dist("b", "shared.example.com"), "If-Match", tagB)
	want(t, r, http.StatusBadRequest)
	if e := r.errorBody(t); len(e.Fields) != 1 || e.Fields[0].Field != "aliases[0]" {
		t.Errorf("duplicate alias by update: %s", r.body)
	}
	if r := a.do("GET", "/api/v1/distributions/b", ""); r.body != dist("b", "b.example.com") {
		t.Errorf("refused update stored: %q", r.body)
	}
	// The same id again is a conflict, not a bad document.
	r = a.do("POST", "/api/v1/distributions", dist("a", "other.example.com"))
	want(t, r, http.StatusConflict)
	r.errorBody(t)
	// A body whose id is not the path's.
	r = a.do("PUT", "/api/v1/distributions/b", dist("z", "b.example.com"), "If-Match", tagB)
	want(t, r, http.StatusBadRequest)
	if e := r.errorBody(t); len(e.Fields) != 1 || e.Fields[0].Field != "id" {
		t.Errorf("id mismatch: %s", r.body)
	}
	// Only one distribution may answer any host.
	want(t, a.do("POST", "/api/v1/distributions", "id: any1\norigins: [{id: o, domain_name: x.org}]\ndefault_cache_behavior: {target_origin_id: o}\n"), http.StatusCreated)
	want(t, a.do("POST", "/api/v1/distributions", "id: any2\naliases: [\"*\"]\norigins: [{id: o, domain_name: x.org}]\ndefault_cache_behavior: {target_origin_id: o}\n"), http.StatusBadRequest)

	if keys := a.stored(); strings.Join(keys, " ") != "distribution.a distribution.any1 distribution.b" {
		t.Errorf("stored %v", keys)
	}
}

func TestAuth(t *testing.T) {
	a := newTestAPI(t)
	for _, c := range []struct {
		name, auth string
		status     int
		challenge  string
	}{
		{"missing", "", http.StatusUnauthorized, `Bearer realm="tern"`},
		{"wrong token", "Bearer nope", http.StatusUnauthorized, `Bearer realm="tern", error="invalid_token"`},
		{"token prefix", "Bearer " + testToken[:4], http.StatusUnauthorized, `Bearer realm="tern", error="invalid_token"`},
		{"token plus more", "Bearer " + testToken + "x", http.StatusUnauthorized, `Bearer realm="tern", error="invalid_token"`},
		{"basic", "Basic " + testToken, http.StatusUnauthorized, `Bearer realm="tern", error="invalid_token"`},
		{"bare token", testToken, http.StatusUnauthorized, `Bearer realm="tern", error="invalid_token"`},
		{"right", "Bearer " + testToken, http.StatusOK, ""},
		{"scheme in any case", "bearer " + testToken, http.StatusOK, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/distributions", "/api/v1/nothing-here"} {
				r := a.do("GET", path, "", "Authorization", c.auth)
				if c.status == http.StatusOK && path != "/api/v1/distributions" {
					continue
				}
				want(t, r, c.status)
				if got := r.header.Get("WWW-Authenticate"); got != c.challenge {
					t.Errorf("%s: WWW-Authenticate %q, want %q", path, got, c.challenge)
				}
				if c.status != http.StatusOK {
					r.errorBody(t)
				}
			}
		})
	}
	// A refused request does not write.
	want(t, a.do("POST", "/api/v1/distributions", dist("x", "x.example"), "Authorization", "Bearer nope"), http.StatusUnauthorized)
	if keys := a.stored(); len(keys) != 0 {
		t.Errorf("unauthenticated POST stored %v", keys)
	}
}

func TestAPIRefusesEmptyToken(t *testing.T) {
	if h, err := API(&Store{}, ""); err == nil || h != nil {
		t.Fatalf("API with an empty token: %v, %v", h, err)
	}
}

func TestNewStoreRefusesBadBase(t *testing.T) {
	kv := newKV(t)
	if _, err := NewStore(kv, []byte("edge: {listen: nonsense}\n"), "tern.yaml"); err == nil || !strings.Contains(err.Error(), "edge.listen") {
		t.Fatalf("NewStore with a bad base: %v", err)
	}
}

func TestBodyLimits(t *testing.T) {
	a := newTestAPI(t)
	big := dist("big", "big.example.com") + "comment: " + strings.Repeat("x", MaxDocumentSize) + "\n"
	r := a.do("POST", "/api/v1/distributions", big)
	want(t, r, http.StatusRequestEntityTooLarge)
	r.errorBody(t)

	for _, ct := range []string{"text/html", "application/x-www-form-urlencoded", "application/json; charset=latin1", "nonsense"} {
		r := a.do("POST", "/api/v1/distributions", dist("ct", "ct.example.com"), "Content-Type", ct)
		want(t, r, http.StatusUnsupportedMediaType)
		r.errorBody(t)
	}
	// No content type is taken as a document too.
	want(t, a.do("POST", "/api/v1/distributions", dist("noct", "noct.example.com"), "Content-Type", ""), http.StatusCreated)
	if keys := a.stored(); len(keys) != 1 {
		t.Errorf("stored %v", keys)
	}
}

func TestRouting(t *testing.T) {
	a := newTestAPI(t)
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"PATCH", "/api/v1/distributions", http.StatusMethodNotAllowed, "GET, HEAD, POST"},
		{"POST", "/api/v1/distributions/x", http.StatusMethodNotAllowed, "GET, HEAD, PUT, DELETE"},
		{"GET", "/api/v1/distributions/x/enable", http.StatusMethodNotAllowed, "POST"},
		{"POST", "/api/v1/distributions/x/explode", http.StatusNotFound, ""},
		{"GET", "/api/v1/invalidations", http.StatusNotFound, ""},
		{"GET", "/api/v1/distributions/x", http.StatusNotFound, ""},
		{"GET", "/api/v1/distributions/" + strings.Repeat("y", 200), http.StatusNotFound, ""},
	} {
		r := a.do(c.method, c.path, "")
		if r.status != c.status || r.header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d Allow %q, want %d %q", c.method, c.path, r.status, r.header.Get("Allow"), c.status, c.allow)
		}
		r.errorBody(t)
	}
}

// TestConcurrentUpdates: of many writers holding the same ETag, exactly one
// wins; the others learn their copy is stale.
func TestConcurrentUpdates(t *testing.T) {
	a := newTestAPI(t)
	r := a.do("POST", "/api/v1/distributions", dist("race", "race.example.com"))
	want(t, r, http.StatusCreated)
	tag := r.header.Get("ETag")

	const writers = 8
	statuses := make(chan int, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			doc := strings.Replace(dist("race", "race.example.com"), "origin.example.org", fmt.Sprintf("o%d.example.org", i), 1)
			statuses <- a.do("PUT", "/api/v1/distributions/race", doc, "If-Match", tag).status
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusOK] != 1 || count[http.StatusPreconditionFailed] != writers-1 {
		t.Fatalf("statuses %v: want one 200 and %d 412", count, writers-1)
	}
}

// TestConcurrentCreatesOfOneAlias: distributions created at once that claim
// the same alias cannot all get in.
func TestConcurrentCreatesOfOneAlias(t *testing.T) {
	a := newTestAPI(t)
	const writers = 6
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			a.do("POST", "/api/v1/distributions", dist(fmt.Sprintf("c%d", i), "contested.example.com"))
		})
	}
	wg.Wait()
	if keys := a.stored(); len(keys) != 1 {
		t.Fatalf("stored %v: one alias, several distributions", keys)
	}
}
