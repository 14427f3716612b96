package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/terncdn/tern/cache"
	"github.com/terncdn/tern/demo"
)

// rangeOrigin is the demo origin (its /download/huge.bin is 10 GiB,
// generated, served with ranges) counting the body bytes it sends and the
// Range fields it is asked for.
type rangeOrigin struct {
	*origin
	sent   atomic.Int64
	active atomic.Int32 // requests being answered
	mu     sync.Mutex
	ranges []string
}

func startRangeOrigin(t *testing.T) *rangeOrigin {
	ro := &rangeOrigin{}
	h := demo.NewHandler()
	ro.origin = startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		ro.active.Add(1)
		defer ro.active.Add(-1)
		ro.mu.Lock()
		ro.ranges = append(ro.ranges, r.Header.Get("Range"))
		ro.mu.Unlock()
		h.ServeHTTP(&countingWriter{ResponseWriter: w, n: &ro.sent}, r)
	})
	return ro
}

// quiet waits until the origin has answered everything it was asked:
// spans an edge fetches go on after a viewer whose range ended inside
// them has its answer.
func (ro *rangeOrigin) quiet(t *testing.T) {
	t.Helper()
	for range 3 { // three looks in a row, so that a request just arriving counts
		waitFor(t, func() bool { return ro.active.Load() == 0 })
		time.Sleep(20 * time.Millisecond)
	}
}

func (ro *rangeOrigin) takeRanges() []string {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	r := ro.ranges
	ro.ranges = nil
	return r
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func downloadBytes(off, n int64) []byte {
	b := make([]byte, n)
	demo.Download().ReadAt(b, off)
	return b
}

// TestSlicedRangesOfHugeObject is issue 3's range test with the real
// binary: ranges of a 10 GiB origin object cost the origin at most the
// slices that hold them, survive a kill -9, and never need the object
// whole.
func TestSlicedRangesOfHugeObject(t *testing.T) {
	const size, S = 10 << 30, 1 << 20 // slice_size in diskConfig
	o := startRangeOrigin(t)
	cfg := strings.Replace(diskConfig(o.origin, filepath.Join(t.TempDir(), "cache")),
		"    slice_size: 1MiB\n", "    slice_size: 1MiB\n    disk_max_object_size: 16GiB\n", 1)
	n := startTern(t, cfg)
	const path = "/download/huge.bin"
	cases := []struct {
		rng        string
		start, end int64
	}{
		{"bytes=9000000000-9002999999", 9000000000, 9002999999},
		{"bytes=-5000", size - 5000, size - 1},
		{"bytes=10737000000-", 10737000000, size - 1},
		{"bytes=5368709120-5368709219", 5368709120, 5368709219},
		{"bytes=123-456", 123, 456},
	}
	check := func(when string, fetch bool) {
		t.Helper()
		for _, c := range cases {
			before := o.sent.Load()
			resp, body := n.get(path, "Range", c.rng, "Accept-Encoding", "gzip")
			if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, int64(size)) {
				t.Fatalf("%s %s: %d, Content-Range %q", when, c.rng, resp.StatusCode, resp.Header.Get("Content-Range"))
			}
			if !bytes.Equal([]byte(body), downloadBytes(c.start, c.end-c.start+1)) {
				t.Fatalf("%s %s: wrong bytes", when, c.rng)
			}
			o.quiet(t)
			requested := c.end - c.start + 1
			fetched := o.sent.Load() - before
			if fetched > requested+2*S {
				t.Errorf("%s %s: origin sent %d bytes for %d requested", when, c.rng, fetched, requested)
			}
			for _, r := range o.takeRanges() {
				spec, ok := cache.ParseRangeSpec(r)
				rg, ok2 := spec.Resolve(size)
				if !ok || !ok2 || rg.Start < c.start-S || rg.End > c.end+S {
					t.Errorf("%s %s: the edge asked the origin for %q", when, c.rng, r)
				}
			}
			if !fetch && resp.Header.Get("X-Cache") != "Hit from tern" {
				t.Errorf("%s %s: X-Cache %q", when, c.rng, resp.Header.Get("X-Cache"))
			}
			t.Logf("%s %-28s requested %8d bytes, origin sent %8d", when, c.rng, requested, fetched)
		}
	}
	check("first", true)

	// The slices are on disk: after kill -9 they are served without the origin.
	n.restart(syscall.SIGKILL)
	before := o.sent.Load()
	check("after kill -9", false)
	if got := o.sent.Load() - before; got != 0 {
		t.Errorf("after the restart the origin sent %d bytes (%q)", got, o.takeRanges())
	}

	// The admin API shows the partial object and its slices.
	resp, err := http.Get("http://" + n.Admin + "/cache/objects?distribution=site&path=" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var objs []struct{ Tier, Kind, Slices string }
	if err := json.NewDecoder(resp.Body).Decode(&objs); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, obj := range objs {
		if obj.Tier == "disk0" && obj.Kind == "partial" && strings.HasSuffix(obj.Slices, "/10240") {
			found = true
		}
	}
	if !found {
		t.Errorf("/cache/objects does not list the partial object: %+v", objs)
	}
}
