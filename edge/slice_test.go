package edge

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/terncdn/tern/cache"
	"github.com/terncdn/tern/storage/disk"
)

// sparseObject is a body of any size that exists only as a formula, so an
// origin can serve a multi-GiB object from no memory.
type sparseObject struct {
	size    int64
	version byte
	pos     int64
}

func sparseByte(p int64, version byte) byte {
	return byte(uint64(p)*0x9e3779b97f4a7c15>>56) ^ byte(p>>20) ^ version
}

func sparseBytes(from, n int64, version byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = sparseByte(from+int64(i), version)
	}
	return b
}

func (o *sparseObject) Read(p []byte) (int, error) {
	if o.pos >= o.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), o.size-o.pos))
	for i := range n {
		p[i] = sparseByte(o.pos+int64(i), o.version)
	}
	o.pos += int64(n)
	return n, nil
}

func (o *sparseObject) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		o.pos = off
	case io.SeekCurrent:
		o.pos += off
	case io.SeekEnd:
		o.pos = o.size + off
	}
	return o.pos, nil
}

// sparseOrigin serves one sparse object at every path, with ranges
// (http.ServeContent), and counts the body bytes it sends.
type sparseOrigin struct {
	size     int64
	version  atomic.Int32
	etag     func(v byte) string // nil: "v<version>"
	cc       string
	noRanges bool
	vary     string
	status   atomic.Int32 // when set, the origin answers this instead
	sent     atomic.Int64
	requests atomic.Int32
	mu       sync.Mutex
	ranges   []string
}

// originsBusy counts sparse origin handlers running, so that settle can
// wait for their byte counts to be final.
var originsBusy atomic.Int32

func (o *sparseOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	originsBusy.Add(1)
	defer originsBusy.Add(-1)
	o.requests.Add(1)
	v := byte(o.version.Load())
	o.mu.Lock()
	o.ranges = append(o.ranges, r.Header.Get("Range"))
	o.mu.Unlock()
	if st := o.status.Load(); st != 0 {
		http.Error(w, "origin trouble", int(st))
		return
	}
	cc := o.cc
	if cc == "" {
		cc = "public, max-age=600"
	}
	w.Header().Set("Cache-Control", cc)
	w.Header().Set("Content-Type", "application/octet-stream")
	if o.etag != nil {
		if t := o.etag(v); t != "" {
			w.Header().Set("Etag", t)
		}
	} else {
		w.Header().Set("Etag", fmt.Sprintf(`"v%d"`, v))
	}
	if o.vary != "" {
		w.Header().Set("Vary", o.vary)
	}
	if o.noRanges {
		r.Header.Del("Range")
	}
	cw := &countWriter{ResponseWriter: w, n: &o.sent}
	http.ServeContent(cw, r, "", time.Time{}, &sparseObject{size: o.size, version: v})
}

func (o *sparseOrigin) takeRanges() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.ranges
	o.ranges = nil
	return r
}

type countWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// settle waits until s has no fetch in flight: a viewer of a range that
// ends inside a span is answered before the span is complete and stored.
func settle(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	inFlight := func() int {
		n := s.fills.InFlight()
		if s.sliceFills != nil {
			n += s.sliceFills.InFlight()
		}
		return n
	}
	for inFlight() > 0 || originsBusy.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("fetches still in flight after 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// getSettled is getRange, then settle.
func getSettled(t *testing.T, s *Server, url, rng string) (*http.Response, []byte, error) {
	t.Helper()
	resp, body, err := getRange(t, url, rng)
	settle(t, s)
	return resp, body, err
}

func getRange(t *testing.T, url, rng string) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	req.Header.Set("Accept-Encoding", "gzip") // as Go's client sends it without Range
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// TestSlicedRangeOfHugeObject is issue 3's range test: ranges of a 6 GiB
// object cost the origin no more than the slices that hold them, and the
// same ranges again cost it nothing.
func TestSlicedRangeOfHugeObject(t *testing.T) {
	const S = 1 << 20 // the disk's slice size in newDiskTierServer
	o := &sparseOrigin{size: 6 << 30}
	origin := httptest.NewServer(o)
	defer origin.Close()
	s, _, d := newDiskTierServer(t, origin.URL)
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()
	url := edgeSrv.URL + "/huge.bin"

	for _, c := range []struct {
		rng        string
		start, end int64
	}{
		{"bytes=5000000000-5000099999", 5000000000, 5000099999},
		{"bytes=5000050000-5003000000", 5000050000, 5003000000}, // overlaps the first
		{"bytes=-1000", o.size - 1000, o.size - 1},
		{"bytes=6442450000-", 6442450000, o.size - 1},
		{"bytes=0-0", 0, 0},
		{"bytes=3221225472-3240000000", 3221225472, 3240000000}, // 18 MiB: two spans
	} {
		before := o.sent.Load()
		resp, body, err := getSettled(t, s, url, c.rng)
		if err != nil {
			t.Fatalf("%s: %v", c.rng, err)
		}
		if resp.StatusCode != http.StatusPartialContent {
			t.Fatalf("%s: status %d", c.rng, resp.StatusCode)
		}
		if want := fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, o.size); resp.Header.Get("Content-Range") != want {
			t.Errorf("%s: Content-Range %q, want %q", c.rng, resp.Header.Get("Content-Range"), want)
		}
		if !bytes.Equal(body, sparseBytes(c.start, c.end-c.start+1, 0)) {
			t.Fatalf("%s: wrong bytes (%d of them)", c.rng, len(body))
		}
		requested := c.end - c.start + 1
		fetched := o.sent.Load() - before
		// Every range the edge asked for lies within one slice of the
		// range requested.
		for _, r := range o.takeRanges() {
			sp, ok := cache.ParseRangeSpec(r)
			rg, ok2 := sp.Resolve(o.size)
			if !ok || !ok2 || rg.Start < c.start-S || rg.End > c.end+S {
				t.Errorf("%s: the edge asked the origin for %q", c.rng, r)
			}
		}
		if fetched > requested+2*S {
			t.Errorf("%s: origin sent %d bytes for %d requested", c.rng, fetched, requested)
		}
		t.Logf("%-30s requested %9d, origin sent %9d", c.rng, requested, fetched)

		// Again: all from the disk.
		o.takeRanges()
		before = o.sent.Load()
		resp, body, err = getSettled(t, s, url, c.rng)
		if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, sparseBytes(c.start, c.end-c.start+1, 0)) {
			t.Fatalf("%s again: %v, status %v", c.rng, err, resp)
		}
		if n := o.sent.Load() - before; n != 0 {
			t.Errorf("%s again: origin sent %d bytes (%q)", c.rng, n, o.takeRanges())
		}
		if xc := resp.Header.Get(HeaderCache); xc != "Hit from tern" {
			t.Errorf("%s again: X-Cache %q", c.rng, xc)
		}
	}
	// The disk holds a few slices of the object, not the object.
	if b := d.Bytes(); b > 64<<20 {
		t.Errorf("disk holds %d bytes for a few ranges", b)
	}
	var slices, present int
	d.Walk("", func(i disk.Info) bool { slices, present = i.Slices, i.Present; return true })
	if slices != 6<<30/S || present == 0 || present > 40 {
		t.Errorf("stored object has %d of %d slices", present, slices)
	}
}

// TestSlicedFullGetCompletesPartial: a whole GET of an object some slices
// of which are stored fetches only the others, and then the object is
// complete on disk.
func TestSlicedFullGetCompletesPartial(t *testing.T) {
	const S = 1 << 20
	o := &sparseOrigin{size: 5*S + 12345}
	origin := httptest.NewServer(o)
	defer origin.Close()
	s, ts, _ := newDiskTierServer(t, origin.URL)
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()
	url := edgeSrv.URL + "/movie.mp4"

	if resp, body, err := getSettled(t, s, url, "bytes=2097152-2097161"); err != nil || resp.StatusCode != 206 || !bytes.Equal(body, sparseBytes(2*S, 10, 0)) {
		t.Fatalf("range: %v %v", err, resp)
	}
	if n := o.sent.Load(); n != S {
		t.Fatalf("origin sent %d bytes for a range in one slice, want the slice (%d)", n, S)
	}
	// HEAD of the partial object: its whole length, from its metadata.
	hreq, _ := http.NewRequest(http.MethodHead, url, nil)
	hreq.Header.Set("Accept-Encoding", "gzip") // the same cache key as the GETs
	hr, err := http.DefaultClient.Do(hreq)
	if err != nil || hr.StatusCode != 200 || hr.ContentLength != o.size {
		t.Fatalf("HEAD of a partial object: %v %+v", err, hr)
	}
	resp, body, err := getSettled(t, s, url, "")
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, sparseBytes(0, o.size, 0)) {
		t.Fatalf("whole GET: %v %v (%d bytes)", err, resp, len(body))
	}
	if n := o.sent.Load(); n != o.size {
		t.Errorf("origin sent %d bytes in all, the object has %d: slices were fetched twice (%q)", n, o.size, o.takeRanges())
	}
	ts.Flush()
	obj, ok := ts.Get(string(keyFor(t, s, "/movie.mp4")))
	if !ok || obj.File == nil || cache.Partial(obj) != nil {
		t.Fatalf("after a whole GET the object is not complete on disk: %+v", obj)
	}
	before := o.sent.Load()
	resp, body, err = getSettled(t, s, url, "")
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, sparseBytes(0, o.size, 0)) || o.sent.Load() != before {
		t.Fatalf("whole GET of the complete object: %v, origin sent %d more", err, o.sent.Load()-before)
	}
}

// TestSlicedNewRepresentation: the origin changes the object; a slice of
// the new version is never combined with slices of the old.
func TestSlicedNewRepresentation(t *testing.T) {
	const S = 1 << 20
	o := &sparseOrigin{size: 8 * S}
	origin := httptest.NewServer(o)
	defer origin.Close()
	s, ts, _ := newDiskTierServer(t, origin.URL)
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()
	url := edgeSrv.URL + "/v.bin"

	if _, body, err := getSettled(t, s, url, "bytes=0-99"); err != nil || !bytes.Equal(body, sparseBytes(0, 100, 0)) {
		t.Fatal("v0 range", err)
	}
	o.version.Store(1)
	// A slice not stored, from the new version: served as the new version.
	resp, body, err := getSettled(t, s, url, "bytes=5242880-5242979")
	if err != nil || resp.Header.Get("Etag") != `"v1"` || !bytes.Equal(body, sparseBytes(5*S, 100, 1)) {
		t.Fatalf("new version's slice: %v, Etag %s", err, resp.Header.Get("Etag"))
	}
	// The old slice went with the old version: slice 0 comes again, new.
	before := o.sent.Load()
	resp, body, err = getSettled(t, s, url, "bytes=0-99")
	if err != nil || resp.Header.Get("Etag") != `"v1"` || !bytes.Equal(body, sparseBytes(0, 100, 1)) {
		t.Fatalf("slice 0 after the change: %v, Etag %s, v0 bytes: %v", err, resp.Header.Get("Etag"), bytes.Equal(body, sparseBytes(0, 100, 0)))
	}
	if o.sent.Load() == before {
		t.Error("slice 0 of the old version was served with the new one's metadata")
	}

	// A range over a stored slice (v1) and a missing one, while the origin
	// moves to v2: the viewer must not get a body mixed from both.
	o.version.Store(2)
	_, body, err = getSettled(t, s, url, "bytes=0-2097151")
	if err == nil {
		t.Fatalf("a body mixed from two versions was sent as complete (%d bytes, v1 prefix %v)",
			len(body), bytes.HasPrefix(body, sparseBytes(0, S, 1)))
	}
	ts.Flush()
	obj, ok := ts.Get(string(keyFor(t, s, "/v.bin")))
	if !ok || obj.Header.Get("Etag") != `"v2"` {
		t.Fatalf("the store should hold the new version now: %+v", obj)
	}
	if p := cache.Partial(obj); p == nil || p.Has(0) || !p.Has(1) {
		t.Errorf("the new version holds slices it never fetched")
	}
}

// TestSlicedCollapse: viewers of the same missing range at once cost the
// origin one request.
func TestSlicedCollapse(t *testing.T) {
	o := &sparseOrigin{size: 1 << 30}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond) // every viewer arrives while the first waits
		o.ServeHTTP(w, r)
	}))
	defer origin.Close()
	s, _, _ := newDiskTierServer(t, origin.URL)
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			resp, body, err := getRange(t, edgeSrv.URL+"/c.bin", "bytes=100000000-100999999")
			if err == nil && (resp.StatusCode != 206 || !bytes.Equal(body, sparseBytes(100000000, 1000000, 0))) {
				err = fmt.Errorf("status %d, %d bytes", resp.StatusCode, len(body))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("10 viewers of one range made %d origin requests", n)
	}
}

// TestSlicedOriginAnswers covers the origin's answers other than a
// fitting 206.
func TestSlicedOriginAnswers(t *testing.T) {
	t.Run("no ranges: the whole object is stored", func(t *testing.T) {
		o := &sparseOrigin{size: 3 << 20, noRanges: true}
		origin := httptest.NewServer(o)
		defer origin.Close()
		s, _, _ := newDiskTierServer(t, origin.URL)
		edgeSrv := httptest.NewServer(s)
		defer edgeSrv.Close()
		for i, want := range []string{"Miss from tern", "Hit from tern"} {
			resp, body, err := getSettled(t, s, edgeSrv.URL+"/a", "bytes=2000000-2000009")
			if err != nil || resp.StatusCode != 206 || !bytes.Equal(body, sparseBytes(2000000, 10, 0)) {
				t.Fatalf("%v %v", err, resp)
			}
			// The first viewer caused the whole fetch it was handed to.
			if got := resp.Header.Get(HeaderCache); got != want {
				t.Errorf("request %d: X-Cache %q, want %q", i, got, want)
			}
		}
		if n := o.requests.Load(); n != 1 {
			t.Errorf("%d origin requests", n)
		}
	})
	t.Run("range beyond the end: 416", func(t *testing.T) {
		o := &sparseOrigin{size: 3 << 20}
		origin := httptest.NewServer(o)
		defer origin.Close()
		s, _, _ := newDiskTierServer(t, origin.URL)
		edgeSrv := httptest.NewServer(s)
		defer edgeSrv.Close()
		resp, _, err := getSettled(t, s, edgeSrv.URL+"/a", "bytes=5000000-")
		if err != nil || resp.StatusCode != 416 || resp.Header.Get("Content-Range") != "bytes */3145728" {
			t.Fatalf("%v %+v", err, resp)
		}
		// The 416 is not stored as the object.
		resp, body, err := getSettled(t, s, edgeSrv.URL+"/a", "bytes=0-9")
		if err != nil || resp.StatusCode != 206 || !bytes.Equal(body, sparseBytes(0, 10, 0)) {
			t.Fatalf("after a 416: %v %+v", err, resp)
		}
	})
	for _, c := range []struct {
		name string
		etag func(byte) string
		cc   string
		// whole: the object is stored whole (fetched behind the first
		// viewer); else nothing is stored.
		whole bool
	}{
		{"weak entity tag: stored whole, not in slices", func(byte) string { return `W/"w"` }, "", true},
		{"no validator: stored whole, not in slices", func(byte) string { return "" }, "", true},
		{"private: not stored", nil, "private, max-age=600", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := &sparseOrigin{size: 64 << 20, etag: c.etag, cc: c.cc}
			origin := httptest.NewServer(o)
			defer origin.Close()
			s, ts, d := newDiskTierServer(t, origin.URL)
			edgeSrv := httptest.NewServer(s)
			defer edgeSrv.Close()
			var xcache []string
			for range 2 {
				resp, body, err := getSettled(t, s, edgeSrv.URL+"/a", "bytes=30000000-30000099")
				if err != nil || resp.StatusCode != 206 || !bytes.Equal(body, sparseBytes(30000000, 100, 0)) {
					t.Fatalf("%v %+v", err, resp)
				}
				xcache = append(xcache, resp.Header.Get(HeaderCache))
			}
			ts.Flush()
			obj, stored := d.Get(string(keyFor(t, s, "/a")))
			switch {
			case c.whole && (!stored || cache.Partial(obj) != nil || xcache[1] != "Hit from tern"):
				t.Errorf("want the object stored whole and the second viewer served from it: stored %v, X-Cache %q", stored, xcache)
			case c.whole && o.requests.Load() != 2:
				t.Errorf("%d origin requests, want 2 (the first span and the whole object)", o.requests.Load())
			case !c.whole && (d.Len() != 0 || o.requests.Load() != 2):
				t.Errorf("%d objects on disk, %d origin requests for two viewers; want nothing stored", d.Len(), o.requests.Load())
			}
		})
	}
}

// TestSlicedDiskFailureIsNotServed: a stored slice whose checksum fails
// is never sent; it is dropped, counted and fetched again.
func TestSlicedDiskFailureIsNotServed(t *testing.T) {
	const S = 1 << 20
	o := &sparseOrigin{size: 4 * S}
	origin := httptest.NewServer(o)
	defer origin.Close()
	s, ts, d := newDiskTierServer(t, origin.URL)
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()
	url := edgeSrv.URL + "/x"
	if _, _, err := getSettled(t, s, url, "bytes=1048576-1048675"); err != nil {
		t.Fatal(err)
	}
	ts.Flush()
	// Flip a byte of the stored slice: the next range must not serve it.
	var path string
	obj, _ := d.Get(string(keyFor(t, s, "/x")))
	f, _, err := obj.File.Open()
	if err != nil {
		t.Fatal(err)
	}
	path = f.Name()
	f.Close()
	flipByte(t, path, S+50)
	before := o.requests.Load()
	// It is fetched again, and the viewer gets the right bytes.
	resp, body, err := getSettled(t, s, url, "bytes=1048576-1048675")
	if err != nil || resp.StatusCode != 206 || !bytes.Equal(body, sparseBytes(S, 100, 0)) {
		t.Fatalf("after corruption: %v %+v", err, resp)
	}
	if o.requests.Load() == before {
		t.Error("the corrupt slice was not fetched again")
	}
	if d.Stats().ChecksumFailures == 0 {
		t.Error("checksum failure not counted")
	}
}

// keyFor is the cache key of path on the "any" distribution.
func keyFor(t *testing.T, s *Server, path string) []byte {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://h"+path, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rt := s.routes.Load()
	dist := rt.distributionFor("h")
	b := dist.behaviorFor(path)
	return cache.AppendKey(nil, dist.id, path, "", cache.Header(req.Header), &b.key)
}

// flipByte inverts the byte at off in the file at path.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestSlicedVariants: a response that varies keeps its slices per variant.
func TestSlicedVariants(t *testing.T) {
	o := &sparseOrigin{size: 64 << 20, vary: "X-Flavor"} // not in the cache key: one primary key

	origin := httptest.NewServer(o)
	defer origin.Close()
	s, _, _ := newDiskTierServer(t, origin.URL)
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()
	get := func(ae string) string {
		req, _ := http.NewRequest(http.MethodGet, edgeSrv.URL+"/v", nil)
		req.Header.Set("Range", "bytes=40000000-40000099")
		req.Header.Set("Accept-Encoding", "gzip")
		req.Header.Set("X-Flavor", ae)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		settle(t, s)
		if err != nil || resp.StatusCode != 206 || !bytes.Equal(body, sparseBytes(40000000, 100, 0)) {
			t.Fatalf("X-Flavor %q: %v, status %d", ae, err, resp.StatusCode)
		}
		return resp.Header.Get(HeaderCache)
	}
	for i, c := range []struct{ ae, xcache string }{
		{"a", "Miss from tern"}, {"a", "Hit from tern"}, {"b", "Miss from tern"}, {"b", "Hit from tern"}, {"a", "Hit from tern"},
	} {
		if got := get(c.ae); got != c.xcache {
			t.Errorf("request %d (X-Flavor %s): X-Cache %q, want %q", i, c.ae, got, c.xcache)
		}
	}
	if n := o.requests.Load(); n != 2 {
		t.Errorf("%d origin requests for two variants", n)
	}
}

// TestFarRangeWithoutDiskIsPassed: an edge with no disk tier cannot keep
// a 6 GiB object; a range far into it is asked of the origin, not reached
// by downloading everything before it.
func TestFarRangeWithoutDiskIsPassed(t *testing.T) {
	o := &sparseOrigin{size: 6 << 30}
	origin := httptest.NewServer(o)
	defer origin.Close()
	s := newTestServer(t, origin.URL, "")
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()
	resp, body, err := getRange(t, edgeSrv.URL+"/huge", "bytes=5000000000-5000000099")
	if err != nil || resp.StatusCode != 206 || !bytes.Equal(body, sparseBytes(5000000000, 100, 0)) ||
		resp.Header.Get("Content-Range") != "bytes 5000000000-5000000099/6442450944" {
		t.Fatalf("%v %+v", err, resp)
	}
	settle(t, s)
	// The whole fetch the miss started stops once nobody reads it: at
	// most its window (8 MiB) and socket buffers go to waste.
	if n := o.sent.Load(); n > 64<<20 {
		t.Errorf("origin sent %d bytes for a 100-byte range", n)
	}
	t.Logf("origin sent %d bytes", o.sent.Load())
}

// TestSlicedStaleIfError: a stale partial object's slices are served when
// the origin fails and stale-if-error allows (RFC 5861 §4), and a 5xx
// does not replace them.
func TestSlicedStaleIfError(t *testing.T) {
	o := &sparseOrigin{size: 32 << 20, cc: "public, max-age=1, stale-if-error=600"}
	origin := httptest.NewServer(o)
	defer origin.Close()
	s, _, _ := newDiskTierServer(t, origin.URL)
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()
	url := edgeSrv.URL + "/s"
	want := sparseBytes(20000000, 100, 0)
	if _, body, err := getSettled(t, s, url, "bytes=20000000-20000099"); err != nil || !bytes.Equal(body, want) {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // stale now
	o.status.Store(503)
	for i := range 2 {
		resp, body, err := getSettled(t, s, url, "bytes=20000000-20000099")
		if err != nil || resp.StatusCode != 206 || !bytes.Equal(body, want) {
			t.Fatalf("request %d with the origin failing: %v %+v", i, err, resp)
		}
		if resp.Header.Get(HeaderError) != "origin-status-503" {
			t.Errorf("request %d: X-Tern-Error %q", i, resp.Header.Get(HeaderError))
		}
	}
	// A slice the edge never had cannot be served stale: the error shows.
	if resp, _, _ := getSettled(t, s, url, "bytes=0-99"); resp == nil || resp.StatusCode != 503 {
		t.Errorf("a slice never stored, origin failing: %+v", resp)
	}
	// The origin down altogether: stale too.
	origin.Close()
	if resp, body, err := getSettled(t, s, url, "bytes=20000000-20000099"); err != nil || resp.StatusCode != 206 || !bytes.Equal(body, want) {
		t.Fatalf("origin unreachable: %v %+v", err, resp)
	}
}
