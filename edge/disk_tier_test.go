package edge

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/storage/disk"
	"github.com/terncdn/tern/storage/memory"
	"github.com/terncdn/tern/storage/tiered"
)

func newDiskTierServer(t *testing.T, originURL string) (*Server, *tiered.Store, *disk.Store) {
	t.Helper()
	u, _ := url.Parse(originURL)
	yaml := `
edge: {node_id: t1, pop: tst, cache: {memory: 64MiB, max_object_size: 1MiB}}
admin: {listen: "off"}
distributions:
  - id: any
    aliases: ["*"]
    origins: [{id: o, domain_name: ` + u.Hostname() + `, http_port: ` + u.Port() + `}]
    default_cache_behavior: {target_origin_id: o}
`
	c, err := config.Parse([]byte(yaml), "test")
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.New(64<<20, 1<<20)
	d, err := disk.Open(disk.Options{Path: t.TempDir(), Size: 256 << 20, SliceSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ts := tiered.New(mem, []tiered.Disk{d}, tiered.Options{PromoteMax: 16 << 10, DiskMax: 1 << 40})
	s, err := New(Options{Config: c, Storage: ts, Bodies: ts, BodiesMax: 1 << 30, Slices: ts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		ts.Close()
		d.Close()
	})
	return s, ts, d
}

// TestAbandonedLargeFillIsKept: the viewer of a large download
// leaves; the edge goes on downloading it "for the store" (fillLarge's
// doc), but then throws it away: the next viewer fetches it all again.
func TestAbandonedLargeFillIsKept(t *testing.T) {
	const size = 12 << 20
	const step = 256 << 10
	var fetches atomic.Int32
	done := make(chan struct{}, 4)
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		defer func() { done <- struct{}{} }()
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		buf := make([]byte, step)
		for sent := 0; sent < size; sent += step {
			if _, err := w.Write(buf); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
	}))
	defer o.Close()
	s, _, d := newDiskTierServer(t, o.URL)
	s.fills.Window = 1 << 20
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()

	hangUpAfter1KiB(t, edgeSrv.URL+"/big.iso")

	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("origin handler still running after 20s")
	}
	deadline := time.Now().Add(3 * time.Second)
	for d.Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if d.Len() == 0 {
		t.Errorf("the edge downloaded all %d MiB for the disk tier after the viewer left, then did not keep it (disk objects: %d)", size>>20, d.Len())
	}
	// The first viewer's Go client sent Accept-Encoding: gzip, which the
	// cache key (CachingOptimized) includes: ask the same way.
	rec := get(s, "/big.iso", "Accept-Encoding", "gzip")
	if rec.Code != 200 || rec.Body.Len() != size {
		t.Fatalf("second viewer: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("origin fetched %d times, want 1", n)
	}
}

// TestLargeCommitReplacesTheMemoryCopy: an object that was small
// (held in memory) changes at the origin and becomes large. The new version
// is committed straight to the disk, but the memory tier keeps the old one,
// and memory is looked at first: every later request finds the old stale
// copy and downloads the large body from the origin again (with
// stale-while-revalidate, viewers keep getting the old bytes).
func TestLargeCommitReplacesTheMemoryCopy(t *testing.T) {
	big := bytes.Repeat([]byte("v2"), 1<<20) // 2 MiB > max_object_size
	var version, fetches atomic.Int32
	version.Store(1)
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if version.Load() == 1 {
			w.Header().Set("Cache-Control", "public, max-age=1")
			w.Header().Set("ETag", `"v1"`)
			io.WriteString(w, "small v1")
			return
		}
		if r.Header.Get("If-None-Match") == `"v2"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("ETag", `"v2"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		w.Write(big)
	}))
	defer o.Close()
	s, ts, d := newDiskTierServer(t, o.URL)

	if rec := get(s, "/f"); rec.Body.String() != "small v1" {
		t.Fatalf("first: %q", rec.Body.String())
	}
	ts.Flush()
	time.Sleep(1100 * time.Millisecond) // v1 is stale
	version.Store(2)
	if rec := get(s, "/f"); !bytes.Equal(rec.Body.Bytes(), big) {
		t.Fatalf("after the change: %d bytes, want v2", rec.Body.Len())
	}
	ts.Flush()
	if d.Len() != 1 {
		t.Fatalf("disk holds %d objects, want v2", d.Len())
	}
	before := fetches.Load()
	for i := 0; i < 3; i++ {
		rec := get(s, "/f")
		if !bytes.Equal(rec.Body.Bytes(), big) {
			t.Fatalf("request %d: %d bytes, want v2", i, rec.Body.Len())
		}
		t.Logf("request %d: X-Cache %q", i, rec.Header().Get("X-Cache"))
	}
	if n := fetches.Load() - before; n != 0 {
		t.Errorf("v2 is stored on disk and fresh, yet 3 requests went to the origin %d times (the stale v1 left in memory shadows it)", n)
	}
}

// TestDiskHitsOverTCP serves disk hits over real TCP connections, where
// bodies go out with sendfile from descriptors the disk tier keeps open:
// every hit must carry the right bytes and the same Content-Type as the
// miss that stored it (one the origin did not send is sniffed on both).
func TestDiskHitsOverTCP(t *testing.T) {
	const size = 3 << 19 // above max_object_size: stored on disk only
	bodies := map[string][]byte{
		"/typed.bin": bytes.Repeat([]byte{0, 1, 2, 3, 0xfe}, size/5),
		"/untyped":   bytes.Repeat([]byte("plain text "), size/11),
	}
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := bodies[r.URL.Path]
		if r.URL.Path == "/typed.bin" {
			w.Header().Set("Content-Type", "application/x-test")
		} else {
			w.Header()["Content-Type"] = nil // none: not even sniffed
		}
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	}))
	defer o.Close()
	s, ts, d := newDiskTierServer(t, o.URL)
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 1}}

	fetch := func(path, rng string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, edgeSrv.URL+path, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	miss := map[string]string{}
	for path := range bodies {
		resp, _ := fetch(path, "")
		miss[path] = resp.Header.Get("Content-Type")
	}
	ts.Flush()
	if d.Len() != len(bodies) {
		t.Fatalf("disk holds %d objects, want %d", d.Len(), len(bodies))
	}
	tests := []struct {
		path, rng  string
		status     int
		start, end int
	}{
		{"/typed.bin", "", 200, 0, len(bodies["/typed.bin"])},
		{"/untyped", "", 200, 0, len(bodies["/untyped"])},
		{"/typed.bin", "bytes=1000-299999", 206, 1000, 300000},
		{"/untyped", "bytes=-10", 206, len(bodies["/untyped"]) - 10, len(bodies["/untyped"])},
	}
	hits := d.Stats().Hits
	const rounds = 5
	for range rounds {
		for _, tt := range tests {
			resp, b := fetch(tt.path, tt.rng)
			if resp.StatusCode != tt.status || !bytes.Equal(b, bodies[tt.path][tt.start:tt.end]) {
				t.Fatalf("%s %s: %d, %d bytes; want %d, bytes [%d, %d) of the object", tt.path, tt.rng, resp.StatusCode, len(b), tt.status, tt.start, tt.end)
			}
			if ct := resp.Header.Get("Content-Type"); ct != miss[tt.path] || ct == "" {
				t.Errorf("%s: hit's Content-Type %q, the miss's %q", tt.path, ct, miss[tt.path])
			}
		}
	}
	if n := d.Stats().Hits - hits; n != rounds*uint64(len(tests)) {
		t.Errorf("%d disk hits, want %d: the test did not exercise the disk tier", n, rounds*len(tests))
	}
}
