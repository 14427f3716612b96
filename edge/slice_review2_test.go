package edge

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/terncdn/tern/cache"
)

// TestSlicedWeakWholeSpanIsCached: an object without a strong validator is
// cached whole (slices of it cannot be combined). When one span happens to
// hold all of it (a range over the whole of an object larger than the
// memory tier's objects and smaller than a span), it must still be stored
// whole, as it is when the span holds only part of it (the whole fetch
// behind the viewer) and as a miss without slices stores it: not fetched
// from the origin again on every request.
func TestSlicedWeakWholeSpanIsCached(t *testing.T) {
	const size = 3 << 20 // over max_object_size (1 MiB), under a span (8 MiB)
	for _, rng := range []string{"bytes=0-3145727", "bytes=-3145728", "bytes=0-99"} {
		t.Run(rng, func(t *testing.T) {
			o := &sparseOrigin{size: size, etag: func(byte) string { return `W/"w"` }}
			origin := httptest.NewServer(o)
			defer origin.Close()
			s, ts, _ := newDiskTierServer(t, origin.URL)
			edgeSrv := httptest.NewServer(s)
			defer edgeSrv.Close()
			url := edgeSrv.URL + "/weak.bin"
			for i := range 2 {
				resp, body, err := getSettled(t, s, url, rng)
				if err != nil || resp.StatusCode != http.StatusPartialContent {
					t.Fatalf("request %d: %v %v", i, err, resp)
				}
				spec, _ := cache.ParseRangeSpec(rng)
				rg, _ := spec.Resolve(size)
				if !bytes.Equal(body, sparseBytes(rg.Start, rg.Length(), 0)) {
					t.Fatalf("request %d: wrong bytes", i)
				}
				ts.Flush()
			}
			resp, _, err := getSettled(t, s, url, rng)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Header.Get(HeaderCache); got != "Hit from tern" {
				t.Errorf("third request for %s of a %d-byte object with a weak validator: X-Cache %q; origin asked %q",
					rng, size, got, o.takeRanges())
			}
		})
	}
}

// TestSlicedPurgeDuringSpanHandOff: a purge keeps every fetch in flight
// for the path from storing (invalidate). A span request in flight when
// the purge runs, answered by an origin that ignores Range with the whole
// (old) object, must not be stored by the whole fetch it is handed to:
// otherwise the purged content is served from the cache for its TTL.
func TestSlicedPurgeDuringSpanHandOff(t *testing.T) {
	const size = 4 << 20
	o := &sparseOrigin{size: size, noRanges: true}
	var s *Server
	var purged atomic.Bool
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" && purged.CompareAndSwap(false, true) {
			// The object changes at the origin and is purged while this
			// request (asked before the change) is being answered.
			o.version.Store(1)
			if _, err := s.Purge("any", "/p.bin"); err != nil {
				t.Error(err)
			}
			(&sparseOrigin{size: size, noRanges: true}).ServeHTTP(w, r) // the old version
			return
		}
		o.ServeHTTP(w, r)
	}))
	defer origin.Close()
	s, _, _ = newDiskTierServer(t, origin.URL)
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()
	url := edgeSrv.URL + "/p.bin"
	if _, _, err := getSettled(t, s, url, "bytes=0-99"); err != nil {
		t.Fatal(err)
	}
	if !purged.Load() {
		t.Fatal("the span request never reached the origin")
	}
	resp, body, err := getSettled(t, s, url, "")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET after the purge: %v %v", err, resp)
	}
	if !bytes.Equal(body, sparseBytes(0, size, 1)) {
		t.Errorf("GET after the purge: X-Cache %q, the purged version (v0 %v)", resp.Header.Get(HeaderCache), bytes.Equal(body, sparseBytes(0, size, 0)))
	}
}

// TestSlicedHandOffLeaderIsTheMiss: when a span's answer is handed to a
// whole fetch (the origin ignores Range, or answers 404), the viewer whose
// request went to the origin is the one that missed: it must not be told
// (X-Cache, the access log's result) that it was a hit, nor counted as a
// collapsed request, and a response that may not be shared must not cost
// the origin a second request for the same viewer (the viewer joined the
// whole fetch its own span fill started, as a follower).
func TestSlicedHandOffLeaderIsTheMiss(t *testing.T) {
	for _, c := range []struct {
		name string
		o    *sparseOrigin
	}{
		{"origin ignores Range", &sparseOrigin{size: 100 << 10, noRanges: true}},
		{"origin ignores Range, no-store", &sparseOrigin{size: 100 << 10, noRanges: true, cc: "no-store"}},
		{"origin ignores Range, private", &sparseOrigin{size: 100 << 10, noRanges: true, cc: "private, max-age=60"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			origin := httptest.NewServer(c.o)
			defer origin.Close()
			s, _, _ := newDiskTierServer(t, origin.URL)
			edgeSrv := httptest.NewServer(s)
			defer edgeSrv.Close()
			resp, body, err := getSettled(t, s, edgeSrv.URL+"/a.bin", "bytes=0-99")
			if err != nil || resp.StatusCode/100 != 2 {
				t.Fatalf("range: %v %v", err, resp)
			}
			want := sparseBytes(0, 100, 0)
			if resp.StatusCode == http.StatusOK {
				want = sparseBytes(0, c.o.size, 0)
			}
			if !bytes.Equal(body, want) {
				t.Fatalf("status %d: wrong bytes", resp.StatusCode)
			}
			if got := resp.Header.Get(HeaderCache); got != "Miss from tern" {
				t.Errorf("X-Cache %q for the request that fetched from the origin", got)
			}
			if n := c.o.requests.Load(); n != 1 {
				t.Errorf("one viewer request cost the origin %d requests (ranges %q)", n, c.o.takeRanges())
			}
		})
	}
}

// TestSlicedWeakFarRangeOfUncacheableSize: a range longer than a span of
// an object with a weak validator, too large for any tier to keep whole,
// can only be passed to the origin. It must not also start a whole
// download of the object (which nobody reads and nothing stores): the
// origin sends at most the range and the span asked first (which is how
// the edge learns the validator is weak).
func TestSlicedWeakFarRangeOfUncacheableSize(t *testing.T) {
	const S = 1 << 20
	const size = 2 << 30 // over BodiesMax (1 GiB)
	o := &sparseOrigin{size: size, etag: func(byte) string { return `W/"w"` }}
	origin := httptest.NewServer(o)
	defer origin.Close()
	s, _, _ := newDiskTierServer(t, origin.URL)
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()
	const from, n = 100 << 20, 20 << 20
	resp, body, err := getSettled(t, s, edgeSrv.URL+"/far.bin", "bytes=104857600-125829119")
	if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, sparseBytes(from, n, 0)) {
		t.Fatalf("far range: %v %v, %d bytes", err, resp, len(body))
	}
	if sent := o.sent.Load(); sent > n+maxSpanBytes+S {
		t.Errorf("origin sent %d bytes for a %d-byte range (asked %q)", sent, n, o.takeRanges())
	}
}
