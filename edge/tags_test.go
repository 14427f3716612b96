package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/terncdn/tern/collapse"
	"github.com/terncdn/tern/tier"
)

// taggedOrigin serves each path with the tags ?-less paths map to, an
// ETag, and answers If-None-Match with 304; it counts full fetches and
// conditional ones per path.
type taggedOrigin struct {
	tags        map[string][2]string // path -> Surrogate-Key, Cache-Tag
	cacheCtl    string
	mu          sync.Mutex
	full, cond  map[string]int
	gate        chan struct{} // when set, the next full fetch waits on it
	gateEntered chan struct{}
}

func newTaggedOrigin(tags map[string][2]string) *taggedOrigin {
	return &taggedOrigin{tags: tags, cacheCtl: "public, max-age=600", full: map[string]int{}, cond: map[string]int{}}
}

func (o *taggedOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := o.tags[r.URL.Path]
	if t[0] != "" {
		w.Header().Set("Surrogate-Key", t[0])
	}
	if t[1] != "" {
		w.Header().Set("Cache-Tag", t[1])
	}
	w.Header().Set("Cache-Control", o.cacheCtl)
	w.Header().Set("ETag", `"`+r.URL.Path+`"`)
	o.mu.Lock()
	if r.Header.Get("If-None-Match") == `"`+r.URL.Path+`"` {
		o.cond[r.URL.Path]++
		o.mu.Unlock()
		w.WriteHeader(http.StatusNotModified)
		return
	}
	o.full[r.URL.Path]++
	gate, entered := o.gate, o.gateEntered
	o.gate = nil
	o.mu.Unlock()
	if gate != nil {
		close(entered)
		<-gate
	}
	io.WriteString(w, "body of "+r.URL.Path)
}

func (o *taggedOrigin) counts(path string) (full, cond int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.full[path], o.cond[path]
}

func TestTagsHiddenFromViewersHandedToTiers(t *testing.T) {
	o := newTaggedOrigin(map[string][2]string{"/a": {"p1 all", "c1,all"}, "/private": {"secret", ""}})
	ts := httptest.NewServer(o)
	defer ts.Close()
	s := newTestServer(t, ts.URL, "")
	s.SetTiers(tier.NewStatic()) // a node that takes tier requests
	const fromTier = "peer; chain=fra-9"
	noTags := func(what string, rec *httptest.ResponseRecorder) {
		t.Helper()
		for _, f := range []string{"Surrogate-Key", "Cache-Tag"} {
			if v := rec.Header().Values(f); len(v) > 0 {
				t.Errorf("%s: viewer sees %s: %q", what, f, v)
			}
		}
	}
	noTags("miss", get(s, "/a"))
	noTags("hit", get(s, "/a"))
	rec := get(s, "/a", "Tern-Tier", fromTier)
	if got := rec.Header().Get("Surrogate-Key"); got != "all c1 p1" || rec.Header().Get("X-Cache") != "Hit from tern" {
		t.Errorf("hit for another tier: Surrogate-Key %q (%s), want %q", got, rec.Header().Get("X-Cache"), "all c1 p1")
	}
	if got := get(s, "/b", "Tern-Tier", fromTier).Header().Get("Surrogate-Key"); got != "" {
		t.Errorf("an untagged object for another tier: Surrogate-Key %q", got)
	}
	o.tags["/c"] = [2]string{"", "only-ct"}
	if got := get(s, "/c", "Tern-Tier", fromTier).Header().Get("Surrogate-Key"); got != "only-ct" {
		t.Errorf("miss for another tier: Surrogate-Key %q, want only-ct", got)
	}
	// Passed through (not cacheable): the origin's fields, for tiers only.
	o.cacheCtl = "private"
	noTags("pass", get(s, "/private"))
	noTags("pass", get(s, "/private"))
	if got := get(s, "/private", "Tern-Tier", fromTier).Header().Get("Surrogate-Key"); got != "secret" {
		t.Errorf("passed through to another tier: Surrogate-Key %q, want secret", got)
	}
}

func TestPurgeTagRemovesExactlyTheTagged(t *testing.T) {
	o := newTaggedOrigin(map[string][2]string{"/a": {"red", ""}, "/b": {"blue red", ""}, "/c": {"", "blue"}, "/d": {}})
	ts := httptest.NewServer(o)
	defer ts.Close()
	s := newTestServer(t, ts.URL, "")
	paths := []string{"/a", "/b", "/c", "/d"}
	for _, p := range paths {
		get(s, p)
	}
	if n, err := s.PurgeTag("any", "red", false); err != nil || n != 2 {
		t.Errorf("PurgeTag(any, red) = %d, %v; want 2 objects", n, err)
	}
	if _, err := s.PurgeTag("any", "a b", false); err == nil {
		t.Error("PurgeTag of a malformed tag: no error")
	}
	if _, err := s.PurgeTag("nosuch", "red", false); err == nil {
		t.Error("PurgeTag of a distribution not in service: no error")
	}
	for _, p := range paths {
		want := "Hit from tern"
		if p == "/a" || p == "/b" {
			want = "Miss from tern"
		}
		if got := get(s, p).Header().Get("X-Cache"); got != want {
			t.Errorf("%s after purging tag red: %s, want %s", p, got, want)
		}
	}
}

func TestSoftPurgeRevalidates(t *testing.T) {
	o := newTaggedOrigin(map[string][2]string{"/img/a": {"red", ""}, "/img/b": {}, "/c": {"red", ""}, "/d": {}})
	ts := httptest.NewServer(o)
	defer ts.Close()
	s := newTestServer(t, ts.URL, "")
	for _, p := range []string{"/img/a", "/img/b", "/c", "/d"} {
		get(s, p)
	}
	if _, err := s.PurgePath("any", "/img/*", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PurgeTag("any", "red", true); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/img/a", "/img/b", "/c", "/d"} {
		soft := p != "/d"
		rec := get(s, p)
		want := "Hit from tern"
		if soft {
			want = "RefreshHit from tern"
		}
		if got := rec.Header().Get("X-Cache"); got != want || rec.Body.String() != "body of "+p {
			t.Errorf("%s after the soft purge: %s %q, want %s and the stored body", p, got, rec.Body, want)
		}
		full, cond := o.counts(p)
		if wantCond := map[bool]int{true: 1, false: 0}[soft]; full != 1 || cond != wantCond {
			t.Errorf("%s: origin saw %d full and %d conditional fetches, want 1 and %d", p, full, cond, wantCond)
		}
		if got := get(s, p).Header().Get("X-Cache"); got != "Hit from tern" {
			t.Errorf("%s after its revalidation: %s, want a hit (fresh again)", p, got)
		}
	}
	// The refreshed object keeps its tags: a hard purge by tag still finds it.
	if n, _ := s.PurgeTag("any", "red", false); n != 2 {
		t.Errorf("hard purge of red after the revalidations removed %d objects, want 2", n)
	}
}

// TestSoftPurgeServesStaleWhileRevalidating: with stale-while-revalidate
// the first request after a soft purge is answered at once from the
// stale object, and the refresh happens behind it.
func TestSoftPurgeServesStaleWhileRevalidating(t *testing.T) {
	o := newTaggedOrigin(map[string][2]string{"/a": {"red", ""}})
	o.cacheCtl = "public, max-age=600, stale-while-revalidate=60"
	ts := httptest.NewServer(o)
	defer ts.Close()
	s := newTestServer(t, ts.URL, "")
	get(s, "/a")
	s.PurgeTag("any", "red", true)
	rec := get(s, "/a")
	if rec.Header().Get("X-Cache") != "Hit from tern" {
		t.Errorf("first request after the soft purge: %s, want a stale hit", rec.Header().Get("X-Cache"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, cond := o.counts("/a"); cond == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no background revalidation after a stale-while-revalidate hit")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTagPurgeStopsFillInFlight: a response whose head had not arrived
// when a purge by tag was asked for (its tags unknown) is served to its
// viewers but not stored.
func TestTagPurgeStopsFillInFlight(t *testing.T) {
	o := newTaggedOrigin(map[string][2]string{"/a": {"red", ""}})
	ts := httptest.NewServer(o)
	defer ts.Close()
	s := newTestServer(t, ts.URL, "")
	gate, entered := make(chan struct{}), make(chan struct{})
	o.gate, o.gateEntered = gate, entered
	done := make(chan string)
	go func() { done <- get(s, "/a").Body.String() }()
	<-entered
	if _, err := s.PurgeTag("any", "red", false); err != nil {
		t.Fatal(err)
	}
	close(gate)
	if got := <-done; got != "body of /a" {
		t.Errorf("the viewer of the purged fetch got %q", got)
	}
	if got := get(s, "/a").Header().Get("X-Cache"); got != "Miss from tern" {
		t.Errorf("after a tag purge during its fetch, /a is %s, want a miss (not stored)", got)
	}
}

// TestTagPurgeOfFillWithHeadIn: once a fill's head is in, a purge by tag
// stops it from storing if it carries the tag, and only then.
func TestTagPurgeOfFillWithHeadIn(t *testing.T) {
	for purged, want := range map[string]string{"blue": "Miss from tern", "red": "Hit from tern"} {
		release := make(chan struct{})
		var started atomic.Bool
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Surrogate-Key", "blue")
			w.Header().Set("Cache-Control", "public, max-age=600")
			w.Header().Set("Content-Length", "8")
			w.WriteHeader(200)
			io.WriteString(w, "body")
			w.(http.Flusher).Flush()
			started.Store(true)
			<-release
			io.WriteString(w, "rest")
		}))
		s := newTestServer(t, ts.URL, "")
		done := make(chan string)
		go func() { done <- get(s, "/b").Body.String() }()
		for !started.Load() {
			time.Sleep(2 * time.Millisecond)
		}
		for published := false; !published; {
			s.fills.InvalidateMatch("", func(_ collapse.Head, p bool) bool { published = p; return false })
			time.Sleep(time.Millisecond)
		}
		s.PurgeTag("any", purged, false)
		close(release)
		if got := <-done; got != "bodyrest" {
			t.Fatalf("viewer got %q", got)
		}
		if got := get(s, "/b").Header().Get("X-Cache"); got != want {
			t.Errorf("fill tagged blue, purge of %s with its head in: next request %s, want %s", purged, got, want)
		}
		ts.Close()
	}
}

// TestViewersCannotReadTags: a viewer who sends a Tern-Tier header that
// is not one, or sends one to a node without tiers, is answered as a
// viewer: no Surrogate-Key or Cache-Tag on a miss, a hit or a pass.
func TestViewersCannotReadTags(t *testing.T) {
	o := newTaggedOrigin(map[string][2]string{"/a": {"secret-a", "secret-ct"}, "/private": {"secret-p", ""}})
	ts := httptest.NewServer(o)
	defer ts.Close()
	plain := newTestServer(t, ts.URL, "")
	tiered := newTestServer(t, ts.URL, "")
	tiered.SetTiers(tier.NewStatic())
	for _, c := range []struct {
		name   string
		s      *Server
		header string
	}{
		{"no tiers, a well-formed header", plain, "peer; chain=fra-1"},
		{"tiers, a header that is not one", tiered, "1"},
	} {
		for _, path := range []string{"/a", "/a", "/private"} { // a miss, a hit, a pass
			o.cacheCtl = "public, max-age=600"
			if path == "/private" {
				o.cacheCtl = "private"
			}
			rec := get(c.s, path, "Tern-Tier", c.header)
			for _, f := range []string{"Surrogate-Key", "Cache-Tag"} {
				if v := rec.Header().Values(f); len(v) > 0 {
					t.Errorf("%s: %s (%s): the viewer sees %s %q", c.name, path, rec.Header().Get(HeaderCache), f, v)
				}
			}
		}
	}
}
