package edge

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// serve runs one request through s and returns what it answered.
func serve(s *Server, method, host, path string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://"+host+path, nil)
	req.RemoteAddr = "127.0.0.1:5000"
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func get(s *Server, path string, hdr ...string) *httptest.ResponseRecorder {
	return serve(s, "GET", "t.test", path, hdr...)
}

// TestPassMarkerExpires: a key once found uncacheable is tried again once
// its hit-for-pass marker is old, and cached if the response now may be.
func TestPassMarkerExpires(t *testing.T) {
	var private atomic.Bool
	private.Store(true)
	var fetches atomic.Int32
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if private.Load() {
			w.Header().Set("Cache-Control", "private")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=60")
		}
		io.WriteString(w, "x")
	}))
	defer o.Close()
	s := newTestServer(t, o.URL, "")
	s.passMarkerTTL = 50 * time.Millisecond
	get(s, "/p")
	get(s, "/p")
	if fetches.Load() != 2 {
		t.Fatalf("private response: %d fetches, want 2", fetches.Load())
	}
	private.Store(false)
	time.Sleep(60 * time.Millisecond)
	get(s, "/p")
	if rec := get(s, "/p"); rec.Header().Get("X-Cache") != "Hit from tern" {
		t.Errorf("after the marker expired and the origin allowed caching: X-Cache %q, want Hit", rec.Header().Get("X-Cache"))
	}
}

// TestRevalidatedVariantStaysItsVariant: a 304 for one variant refreshes
// that variant only; other viewers still get theirs (RFC 9111 §4.1, §4.3.4).
func TestRevalidatedVariantStaysItsVariant(t *testing.T) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lang := r.Header.Get("Accept-Language")
		etag := `"` + lang + `"`
		w.Header().Set("Cache-Control", "max-age=0")
		w.Header().Set("Vary", "Accept-Language")
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			// The refreshed variant is fresh: a viewer of another variant
			// that were handed it would not revalidate it away.
			w.Header().Set("Cache-Control", "max-age=60")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "body-"+lang)
	}))
	defer o.Close()
	s := newTestServer(t, o.URL, "")
	setOriginControlled(s)
	for _, b := range s.routes.Load().catchAll.behaviors {
		b.forward.Headers.Behavior = "allViewer" // the origin sees Accept-Language; Vary picks the variant
	}
	for i := 0; i < 2; i++ {
		for _, lang := range []string{"en", "fr"} {
			rec := get(s, "/v", "Accept-Language", lang)
			if got := rec.Body.String(); got != "body-"+lang {
				t.Fatalf("round %d, %s viewer got %q (X-Cache %s)", i, lang, got, rec.Header().Get("X-Cache"))
			}
		}
	}
}

// TestUnselected304Refetches: a 304 whose validator does not match what is
// stored is not applied; the edge fetches the object again (§4.3.4).
func TestUnselected304Refetches(t *testing.T) {
	var n atomic.Int32
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := n.Add(1)
		w.Header().Set("Cache-Control", "max-age=0")
		if r.Header.Get("If-None-Match") != "" {
			w.Header().Set("ETag", `"other"`)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", fmt.Sprintf(`"v%d"`, v))
		fmt.Fprintf(w, "v%d", v)
	}))
	defer o.Close()
	s := newTestServer(t, o.URL, "")
	setOriginControlled(s)
	get(s, "/u")
	rec := get(s, "/u")
	if rec.Code != 200 || rec.Body.String() != "v3" {
		t.Errorf("after an unselected 304: %d %q, want the refetched v3", rec.Code, rec.Body.String())
	}
}

// TestCollapsedWaitersAreHits: one viewer misses, the ones that joined its
// fetch are hits.
func TestCollapsedWaitersAreHits(t *testing.T) {
	release := make(chan struct{})
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Cache-Control", "public, max-age=60")
		io.WriteString(w, "x")
	}))
	defer o.Close()
	s := newTestServer(t, o.URL, "")
	var wg sync.WaitGroup
	results := make(chan string, 5)
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); results <- get(s, "/c").Header().Get("X-Cache") }()
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	close(results)
	count := map[string]int{}
	for r := range results {
		count[r]++
	}
	if count["Miss from tern"] != 1 || count["Hit from tern"] != 4 {
		t.Errorf("X-Cache of 5 collapsed viewers: %v, want 1 Miss and 4 Hit", count)
	}
}

func setOriginControlled(s *Server) {
	for _, b := range s.routes.Load().catchAll.behaviors {
		b.ttl.OriginControlled = true
		b.cachingOff = false
	}
}
