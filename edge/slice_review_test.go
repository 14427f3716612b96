package edge

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/terncdn/tern/cache"
)

// TestSlicedRangeBeyondOneSpanWithoutCombinableValidator: a range longer
// than one span (16 MiB) of a response whose spans cannot be combined (a
// weak entity tag, no validator, or not storable) must still reach the
// viewer whole. Browsers send "Range: bytes=0-" for every <video>, so a
// response cut at 16 MiB on every attempt is a download that never works.
func TestSlicedRangeBeyondOneSpanWithoutCombinableValidator(t *testing.T) {
	const size = 40 << 20
	for _, c := range []struct {
		name string
		etag func(byte) string
		cc   string
	}{
		{"weak entity tag", func(byte) string { return `W/"w"` }, ""},
		{"no validator", func(byte) string { return "" }, ""},
		{"private", nil, "private, max-age=600"},
		{"no-store", nil, "no-store"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := &sparseOrigin{size: size, etag: c.etag, cc: c.cc}
			origin := httptest.NewServer(o)
			defer origin.Close()
			s, _, _ := newDiskTierServer(t, origin.URL)
			edgeSrv := httptest.NewServer(s)
			defer edgeSrv.Close()
			resp, body, err := getSettled(t, s, edgeSrv.URL+"/video.mp4", "bytes=0-")
			if err != nil {
				t.Fatalf("bytes=0- of a %d-byte object: %v after %d bytes (origin asked for %q)", size, err, len(body), o.takeRanges())
			}
			if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, sparseBytes(0, size, 0)) {
				t.Fatalf("status %d, %d bytes", resp.StatusCode, len(body))
			}
		})
	}
}

// TestSlicedLongSuffixFetchesOnce: issue 3 says the bytes fetched from the
// origin stay within one slice of the bytes requested. A suffix range
// longer than one span must not fetch its last span twice.
func TestSlicedLongSuffixFetchesOnce(t *testing.T) {
	const S = 1 << 20
	const size = 64 << 20
	o := &sparseOrigin{size: size}
	origin := httptest.NewServer(o)
	defer origin.Close()
	s, _, _ := newDiskTierServer(t, origin.URL)
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()
	const suffix = 20000000
	resp, body, err := getSettled(t, s, edgeSrv.URL+"/tail.bin", "bytes=-20000000")
	if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, sparseBytes(size-suffix, suffix, 0)) {
		t.Fatalf("bytes=-%d: %v, %v, %d bytes", suffix, err, resp, len(body))
	}
	if sent := o.sent.Load(); sent > suffix+2*S {
		t.Errorf("origin sent %d bytes for a %d-byte suffix (more than two slices over); ranges asked: %q", sent, suffix, o.takeRanges())
	}
}

// TestSlicedOriginIgnoringRangeCollapses: an origin that ignores Range
// answers each span with the whole object. Viewers of different ranges of
// the same object while it downloads (a video player seeking) must share
// that one download, as misses without slices do (fetch collapses on the
// key), not start a whole download each.
func TestSlicedOriginIgnoringRangeCollapses(t *testing.T) {
	const size = 32 << 20
	o := &sparseOrigin{size: size, noRanges: true}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond) // every viewer arrives while the first download is in flight
		o.ServeHTTP(w, r)
	}))
	defer origin.Close()
	s, _, _ := newDiskTierServer(t, origin.URL)
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		start := int64(i) * 8 << 20
		wg.Go(func() {
			resp, body, err := getRange(t, edgeSrv.URL+"/noranges.bin", fmt.Sprintf("bytes=%d-%d", start, start+99))
			if err == nil && (resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, sparseBytes(start, 100, 0))) {
				err = fmt.Errorf("bytes from %d: status %d, %d bytes", start, resp.StatusCode, len(body))
			}
			errs <- err
		})
	}
	wg.Wait()
	settle(t, s)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// The viewers' span requests all go out before the first answer shows
	// the origin ignores Range; every answer after the first is closed at
	// its head (what the origin wrote into socket buffers by then is lost,
	// a few MiB each on loopback), and the viewers share the one download.
	// Four whole downloads would be 4x the object.
	if sent := o.sent.Load(); sent >= 2*size {
		t.Errorf("4 viewers of one object from an origin that ignores Range: %d requests, %d bytes for a %d-byte object", o.requests.Load(), sent, size)
	}
}

// TestSlicedStaleServedWhenOriginDown: when the origin cannot be reached,
// the edge serves a stale stored response (staleOnError, as CloudFront
// does). A stale partial object whose stored slices hold the range asked
// for must be served the same way, not answered with an error while a
// complete object in the same state is served.
func TestSlicedStaleServedWhenOriginDown(t *testing.T) {
	const S = 1 << 20
	o := &sparseOrigin{size: 8 * S, cc: "public, max-age=1"}
	origin := httptest.NewServer(o)
	s, _, _ := newDiskTierServer(t, origin.URL)
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()
	url := edgeSrv.URL + "/stale.bin"
	const rng = "bytes=3145728-3145827" // in slice 3
	if resp, body, err := getSettled(t, s, url, rng); err != nil || resp.StatusCode != 206 || !bytes.Equal(body, sparseBytes(3*S, 100, 0)) {
		t.Fatalf("first range: %v %v", err, resp)
	}
	// A small complete object of the same origin, for comparison.
	if resp, _, err := getSettled(t, s, edgeSrv.URL+"/whole.bin", ""); err != nil || resp.StatusCode != 200 {
		t.Fatalf("whole GET: %v %v", err, resp)
	}
	origin.Close() // the origin is down
	time.Sleep(2100 * time.Millisecond)
	resp, _, err := getSettled(t, s, edgeSrv.URL+"/whole.bin", "bytes=3145728-3145827")
	if err != nil || resp.StatusCode != 206 {
		t.Fatalf("stale complete object with the origin down: %v %v", err, resp)
	}
	resp, body, err := getSettled(t, s, url, rng)
	if err != nil || resp.StatusCode != 206 || !bytes.Equal(body, sparseBytes(3*S, 100, 0)) {
		t.Fatalf("stale partial object holding the range, origin down: status %v, error %v (the complete object was served stale)", resp.Status, err)
	}
}

// TestSlicedLastModifiedWithinAMinuteIsWeak: slices combine only when they
// share a strong validator (RFC 9111 §3.4). A Last-Modified date less than
// 60 seconds before the response's Date is implicitly weak (RFC 9110
// §8.8.2.2): the object may have changed again within that second. An
// object rewritten in place within the same second (same size, same
// Last-Modified, no ETag) must not be served as one body made of both
// versions.
func TestSlicedLastModifiedWithinAMinuteIsWeak(t *testing.T) {
	const S = 1 << 20
	lm := time.Now().UTC().Format(http.TimeFormat) // just written: within 60 s of the responses' Date
	o := &sparseOrigin{size: 8 * S, etag: func(byte) string { return "" }}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", lm)
		o.ServeHTTP(w, r)
	}))
	defer origin.Close()
	s, _, _ := newDiskTierServer(t, origin.URL)
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()
	url := edgeSrv.URL + "/rewritten.bin"
	if resp, body, err := getSettled(t, s, url, "bytes=0-99"); err != nil || resp.StatusCode != 206 || !bytes.Equal(body, sparseBytes(0, 100, 0)) {
		t.Fatalf("v0 range: %v %v", err, resp)
	}
	o.version.Store(1) // rewritten: same size, same Last-Modified
	resp, body, err := getSettled(t, s, url, "bytes=0-2097151")
	if err != nil {
		return // cut: no mixed body reached the viewer
	}
	v0, v1 := bytes.Equal(body[:S], sparseBytes(0, S, 0)), bytes.Equal(body[S:], sparseBytes(S, S, 1))
	if v0 && v1 {
		t.Fatalf("status %d: one complete-looking body of slice 0 of the old version and slice 1 of the new (Last-Modified %s, Date %s)",
			resp.StatusCode, resp.Header.Get("Last-Modified"), resp.Header.Get("Date"))
	}
	// One version, whole: the new one, or the old one while it is fresh in
	// the cache (a weak Last-Modified makes the edge keep it whole).
	if !bytes.Equal(body, sparseBytes(0, 2*S, 1)) && !bytes.Equal(body, sparseBytes(0, 2*S, 0)) {
		t.Fatalf("status %d: wrong bytes (old prefix %v, new suffix %v)", resp.StatusCode, v0, v1)
	}
}

// TestSlicedUnknownCompleteLength: a 206 may give its complete length as
// "*" (RFC 9110 §14.4), as origins serving a file still being written do.
// Its spans cannot be placed in slices, but the viewer's range can still
// be answered (the origin's own 206, or the whole object as a miss without
// slices would fetch it). A 502 for every range request of such an origin
// is a regression the slicing brought.
func TestSlicedUnknownCompleteLength(t *testing.T) {
	const size = 3 << 20
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("Etag", `"growing"`)
		if sp, ok := cache.ParseRangeSpec(r.Header.Get("Range")); ok && sp.Suffix == 0 {
			rg, _ := sp.Resolve(size)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/*", rg.Start, rg.End))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(sparseBytes(rg.Start, rg.Length(), 0))
			return
		}
		w.Write(sparseBytes(0, size, 0))
	}))
	defer origin.Close()
	s, _, _ := newDiskTierServer(t, origin.URL)
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()
	resp, body, err := getSettled(t, s, edgeSrv.URL+"/growing.log", "bytes=1000-1999")
	if err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("range of an object of unknown length: %v, status %v", err, resp.Status)
	}
	want := sparseBytes(1000, 1000, 0)
	if resp.StatusCode == http.StatusOK {
		want = sparseBytes(0, size, 0)
	}
	if !bytes.Equal(body, want) {
		t.Errorf("status %d: wrong bytes (%d of them)", resp.StatusCode, len(body))
	}
}
