package edge

import (
	"bytes"
	"net/http"
	"net/http/httptest"
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
