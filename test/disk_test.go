package test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// objectBody is the deterministic content the disk tests' origin serves for
// a path: /obj/<size>/<name>.
func objectBody(path string) []byte {
	parts := strings.Split(path, "/")
	size, _ := strconv.Atoi(parts[2])
	seed := sha256.Sum256([]byte(path))
	b := make([]byte, size)
	for i := range b {
		b[i] = seed[i%len(seed)] ^ byte(i>>8)
	}
	return b
}

func objectOrigin(t *testing.T) *origin {
	return startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/obj/") {
			http.NotFound(w, r)
			return
		}
		body := objectBody(r.URL.Path)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("ETag", fmt.Sprintf(`"%x"`, sha256.Sum256(body)))
		if r.Header.Get("Range") != "" {
			// Ranges as an origin serves them: the edge stores the slices.
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
}

func diskConfig(o *origin, cacheDir string) string {
	return strings.Replace(basicConfig(o, defaultBehavior),
		"    max_object_size: 4MiB\n",
		"    max_object_size: 4MiB\n    disk: {path: \""+cacheDir+"\", size: 256MiB}\n    slice_size: 1MiB\n", 1)
}

// metric reads one sample from /metrics.
func (n *node) metric(name string) float64 {
	resp, err := http.Get("http://" + n.Admin + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(?:\{[^}]*\})? ([0-9.e+]+)$`)
	m := re.FindSubmatch(b)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func (n *node) diskObjects() float64 {
	resp, err := http.Get("http://" + n.Admin + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^tern_cache_objects\{[^}]*tier="disk0"[^}]*\} ([0-9.e+]+)$`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// restart stops n (with sig) and starts it again on the same addresses.
func (n *node) restart(sig os.Signal) {
	n.t.Helper()
	n.cmd.Process.Signal(sig)
	n.cmd.Wait()
	n.start(n.cmd.Args[1:]...)
}

// TestDiskSurvivesRestart: what the disk tier held is served after a clean
// restart and after kill -9, from disk, without asking the origin again;
// objects too large for memory included.
func TestDiskSurvivesRestart(t *testing.T) {
	o := objectOrigin(t)
	n := startTern(t, diskConfig(o, filepath.Join(t.TempDir(), "cache")))
	paths := []string{"/obj/1000/a", "/obj/70000/b", "/obj/6000000/large"} // the last is above max_object_size
	for _, p := range paths {
		for i := 0; i < 2; i++ { // twice: past the admission policy's doorkeeper
			if resp, body := n.get(p); resp.StatusCode != 200 || !bytes.Equal([]byte(body), objectBody(p)) {
				t.Fatalf("GET %s: %d, %d bytes", p, resp.StatusCode, len(body))
			}
		}
	}
	waitFor(t, func() bool { return n.diskObjects() >= float64(len(paths)) })
	fetched := o.total.Load()

	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGKILL} {
		n.restart(sig)
		for _, p := range paths {
			resp, body := n.get(p, "Accept-Encoding", "gzip")
			if resp.StatusCode != 200 || !bytes.Equal([]byte(body), objectBody(p)) {
				t.Fatalf("after restart (%v), GET %s: %d, %d bytes", sig, p, resp.StatusCode, len(body))
			}
			if resp.Header.Get("X-Cache") != "Hit from tern" {
				t.Errorf("after restart (%v), GET %s: X-Cache %q, want a hit from disk", sig, p, resp.Header.Get("X-Cache"))
			}
		}
		// A range of the large object comes from its file.
		// (Go's client drops its own Accept-Encoding: gzip when a Range is
		// set; send it, so the key is the one stored.)
		resp, body := n.get("/obj/6000000/large", "Range", "bytes=5000000-5000099", "Accept-Encoding", "gzip")
		if resp.StatusCode != 206 || body != string(objectBody("/obj/6000000/large")[5000000:5000100]) {
			t.Errorf("range from disk after restart (%v): %d", sig, resp.StatusCode)
		}
	}
	if got := o.total.Load(); got != fetched {
		t.Errorf("the origin was asked %d more times after the restarts, want 0", got-fetched)
	}
}

// TestDiskCorruptionIsCaught: a byte flipped in a stored object is found by
// its checksum; the object is dropped, counted and fetched again, and the
// viewer gets the right bytes.
func TestDiskCorruptionIsCaught(t *testing.T) {
	o := objectOrigin(t)
	dir := filepath.Join(t.TempDir(), "cache")
	n := startTern(t, diskConfig(o, dir))
	const p = "/obj/6000000/c" // above max_object_size: served from its file
	n.get(p)
	n.get(p)
	waitFor(t, func() bool { return n.diskObjects() >= 1 })
	n.cmd.Process.Signal(os.Interrupt)
	n.cmd.Wait()

	// Flip a byte in the middle of the largest file under the cache dir.
	var biggest string
	var size int64
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil && info.Size() > size {
				biggest, size = path, info.Size()
			}
		}
		return nil
	})
	if size < 6000000 {
		t.Fatalf("no data file of the object under %s (largest %d bytes)", dir, size)
	}
	f, err := os.OpenFile(biggest, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	f.ReadAt(b[:], size/2)
	b[0] ^= 0xff
	f.WriteAt(b[:], size/2)
	f.Close()

	n.start(n.cmd.Args[1:]...)
	before := o.count(p)
	resp, body := n.get(p)
	if resp.StatusCode != 200 || !bytes.Equal([]byte(body), objectBody(p)) {
		t.Fatalf("after corruption: %d, %d bytes, equal %v", resp.StatusCode, len(body), bytes.Equal([]byte(body), objectBody(p)))
	}
	if o.count(p) != before+1 {
		t.Errorf("the corrupt object was not fetched again (origin count %d → %d)", before, o.count(p))
	}
	if v := n.metric("tern_cache_checksum_failures_total"); v < 1 {
		t.Errorf("tern_cache_checksum_failures_total = %v, want >= 1", v)
	}
}

// TestDiskCrashCycles kills the edge with SIGKILL again and again while it
// stores objects, restarts it on the same disk, and checks that nothing it
// ever serves is torn or wrong.
func TestDiskCrashCycles(t *testing.T) {
	cycles := 50
	if testing.Short() {
		cycles = 5
	}
	o := objectOrigin(t)
	n := startTern(t, diskConfig(o, filepath.Join(t.TempDir(), "cache")))
	sizes := []int{500, 20000, 300000, 2500000, 5000000}
	// Each cycle asks for objects new in that cycle (so the kill lands while
	// they are written) and for those of earlier cycles (so what a kill may
	// have torn is read back).
	var paths []string
	cyclePaths := func(c int) []string {
		var ps []string
		for i := 0; i < 12; i++ {
			ps = append(ps, fmt.Sprintf("/obj/%d/c%d-o%d", sizes[i%len(sizes)], c, i))
		}
		return ps
	}
	check := func(p string, status int, body []byte) error {
		if status != 200 {
			return nil // a request cut by the kill
		}
		if !bytes.Equal(body, objectBody(p)) {
			return fmt.Errorf("%s: served %d bytes that differ from the origin's %d", p, len(body), len(objectBody(p)))
		}
		return nil
	}
	// Ranges too: those of the large objects are fetched and stored slice
	// by slice (slice_size 1MiB), beside whole downloads of the same keys.
	checkRange := func(p string, from, to int, status int, body []byte) error {
		whole := objectBody(p)
		switch status {
		case 206:
			if !bytes.Equal(body, whole[from:to+1]) {
				return fmt.Errorf("%s bytes %d-%d: served %d bytes that differ from the origin's", p, from, to, len(body))
			}
		case 200:
			return check(p, status, body)
		}
		return nil
	}
	rangeOf := func(r *rand.Rand, p string) (int, int) {
		size := len(objectBody(p))
		from := r.IntN(size)
		return from, min(size-1, from+r.IntN(1500000))
	}
	client := &http.Client{Timeout: 10 * time.Second}
	partialSeen := 0
	for c := 0; c < cycles; c++ {
		fresh := cyclePaths(c)
		paths = append(paths, fresh...)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		stop := make(chan struct{})
		var served atomic.Int64 // responses read whole this cycle
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(c), uint64(w)))
				for {
					select {
					case <-stop:
						return
					default:
					}
					p := fresh[r.IntN(len(fresh))]
					if r.IntN(2) == 0 {
						p = paths[r.IntN(len(paths))]
					}
					req, _ := http.NewRequest(http.MethodGet, "http://"+n.Edge+p, nil)
					req.Header.Set("Accept-Encoding", "gzip") // one key for whole and ranged requests
					from, to := -1, -1
					if r.IntN(3) == 0 {
						from, to = rangeOf(r, p)
						req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to))
					}
					resp, err := client.Do(req)
					if err != nil {
						continue
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil {
						continue // cut mid-body by the kill: the viewer sees it
					}
					served.Add(1)
					if from >= 0 {
						err = checkRange(p, from, to, resp.StatusCode, body)
					} else {
						err = check(p, resp.StatusCode, body)
					}
					if err != nil {
						errs <- err
					}
				}
			}(w)
		}
		// Kill once the restarted edge serves (on a loaded machine its
		// start can take longer than the random wait alone), while the
		// cycle's new objects are being written.
		for deadline := time.Now().Add(10 * time.Second); served.Load() < 3 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(100+rand.IntN(300)) * time.Millisecond)
		n.cmd.Process.Signal(syscall.SIGKILL)
		n.cmd.Wait()
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("cycle %d: %v", c, err)
		}
		n.start(n.cmd.Args[1:]...)
		// Ranges leave partial objects (some slices stored) in play; later
		// whole downloads may complete them, so any restart's count shows it.
		partialSeen += n.partialObjects()
	}
	if partial := partialSeen; partial == 0 {
		t.Error("no partial object on disk after any cycle: the test did not exercise slices")
	} else {
		t.Logf("%d partial objects counted on disk over the restarts", partial)
	}
	// Everything it has now is whole, and every range of it right.
	r := rand.New(rand.NewPCG(7, 7))
	for _, p := range paths {
		from, to := rangeOf(r, p)
		resp, body := n.get(p, "Range", fmt.Sprintf("bytes=%d-%d", from, to), "Accept-Encoding", "gzip")
		if err := checkRange(p, from, to, resp.StatusCode, []byte(body)); err != nil || resp.StatusCode != 206 {
			t.Errorf("after %d kills: %v (status %d)", cycles, err, resp.StatusCode)
		}
		resp, body = n.get(p, "Accept-Encoding", "gzip")
		if err := check(p, resp.StatusCode, []byte(body)); err != nil || resp.StatusCode != 200 {
			t.Errorf("after %d kills: %v (status %d)", cycles, err, resp.StatusCode)
		}
	}
	// The disk tier was in play: it holds what the cycles stored.
	if v := n.diskObjects(); v < 10 {
		t.Errorf("the disk tier holds %v objects after %d cycles: the test did not exercise it", v, cycles)
	}
	t.Logf("after %d kills: %v objects on disk, %v checksum failures caught", cycles, n.diskObjects(), n.metric("tern_cache_checksum_failures_total"))
}

// partialObjects counts the objects on disk that hold only some slices.
func (n *node) partialObjects() int {
	n.t.Helper()
	resp, err := http.Get("http://" + n.Admin + "/cache/objects?limit=100000")
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var objs []struct{ Kind string }
	if err := json.NewDecoder(resp.Body).Decode(&objs); err != nil {
		n.t.Fatal(err)
	}
	k := 0
	for _, o := range objs {
		if o.Kind == "partial" {
			k++
		}
	}
	return k
}

// TestDiskRevalidationPersists: a large object on disk that a 304 refreshed
// keeps its new freshness across a restart (its metadata is rewritten over
// the same body) instead of going back to the origin again.
func TestDiskRevalidationPersists(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 6000000/16) // above max_object_size
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"big-v1"`)
		if r.Header.Get("If-None-Match") == `"big-v1"` {
			w.Header().Set("Cache-Control", "max-age=600")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Cache-Control", "max-age=1")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	cfg := strings.Replace(diskConfig(o, filepath.Join(t.TempDir(), "cache")), defaultBehavior, originControlled, 1)
	n := startTern(t, cfg)
	n.get("/big")
	waitFor(t, func() bool { return n.diskObjects() >= 1 })
	time.Sleep(1100 * time.Millisecond)
	if resp, b := n.get("/big"); resp.Header.Get("X-Cache") != "RefreshHit from tern" || b != string(body) {
		t.Fatalf("after expiry: %s, %d bytes", resp.Header.Get("X-Cache"), len(b))
	}
	n.restart(os.Interrupt)
	before := o.total.Load()
	resp, b := n.get("/big")
	if resp.Header.Get("X-Cache") != "Hit from tern" || b != string(body) {
		t.Errorf("after restart: %s, %d bytes: the refreshed freshness was not kept", resp.Header.Get("X-Cache"), len(b))
	}
	if o.total.Load() != before {
		t.Errorf("the origin was asked again after the restart")
	}
}

// TestLateJoinerFollowsDiskFile: a viewer who joins a large download after
// its start has left the fill's window reads it from the disk tier's file
// as it fills, instead of making a second origin fetch.
func TestLateJoinerFollowsDiskFile(t *testing.T) {
	const size = 24 << 20 // three times the fill window
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i * 7)
	}
	release := make(chan struct{})
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(body[:size/2])
		w.(http.Flusher).Flush()
		<-release
		w.Write(body[size/2:])
	})
	n := startTern(t, diskConfig(o, filepath.Join(t.TempDir(), "cache")))
	first := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + n.Edge + "/huge")
		if err != nil {
			first <- err
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && !bytes.Equal(b, body) {
			err = fmt.Errorf("first viewer got %d bytes that differ", len(b))
		}
		first <- err
	}()
	// The first viewer has read past the window: the start is gone from it.
	time.Sleep(1500 * time.Millisecond)
	second := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + n.Edge + "/huge")
		if err != nil {
			second <- err
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && !bytes.Equal(b, body) {
			err = fmt.Errorf("late viewer got %d bytes that differ", len(b))
		}
		second <- err
	}()
	time.Sleep(300 * time.Millisecond)
	close(release)
	for _, ch := range []chan error{first, second} {
		if err := <-ch; err != nil {
			t.Error(err)
		}
	}
	if c := o.count("/huge"); c != 1 {
		t.Errorf("origin fetched %d times, want 1: the late viewer did not follow the disk file", c)
	}
}

// TestDiskHitsServeTheRightObject: with a memory tier smaller than the
// object set, hits come from disk and are promoted to memory over and over;
// every answer must still be the object asked for. (Promoted keys once
// aliased the edge's reused key buffer, and objects were served under
// other objects' paths.)
func TestDiskHitsServeTheRightObject(t *testing.T) {
	o := objectOrigin(t)
	cfg := strings.Replace(diskConfig(o, filepath.Join(t.TempDir(), "cache")),
		"    memory: 64MiB\n    max_object_size: 4MiB\n    disk:", "    memory: 1MiB\n    max_object_size: 64KiB\n    disk:", 1)
	if !strings.Contains(cfg, "memory: 1MiB") {
		t.Fatalf("the small memory tier is not in the config:\n%s", cfg)
	}
	n := startTern(t, cfg)
	var paths []string
	for i := 0; i < 150; i++ {
		paths = append(paths, fmt.Sprintf("/obj/20000/p%d", i)) // 3 MB in all: three times memory
	}
	for round := 0; round < 4; round++ {
		if round == 2 {
			waitFor(t, func() bool { return n.diskObjects() >= float64(len(paths)) })
		}
		for _, p := range paths {
			resp, body := n.get(p)
			if resp.StatusCode != 200 || !bytes.Equal([]byte(body), objectBody(p)) {
				t.Fatalf("round %d: %s answered %d with %d bytes that are not its own (X-Cache %s)",
					round, p, resp.StatusCode, len(body), resp.Header.Get("X-Cache"))
			}
		}
	}
	// The rounds really went through the disk tier (and its promotions).
	if v := n.metric(`tern_cache_hits_total{node="e2e-1",pop="test-pop",tier="disk0"}`); v <= 0 {
		t.Errorf("disk0 hits = %v: the test did not exercise the disk tier", v)
	}
}
