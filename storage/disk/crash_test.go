package disk

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/terncdn/tern/cache"
)

const crashDirEnv = "TERN_DISK_CRASH_DIR"

// TestHelperProcess is the child of TestCrash: it writes, replaces and
// deletes objects from several goroutines until it is killed.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrash")
	}
	s, err := Open(Options{Path: dir, Size: 4 << 20, SliceSize: 4096})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	fmt.Println("ready")
	for g := range 4 {
		go func() {
			r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(g)))
			for {
				key := "k/" + strconv.Itoa(r.IntN(300))
				v := r.Uint64()
				body := content(key, v, r.IntN(40000))
				meta := &cache.Object{Status: 200, Header: cache.Header{"V": {strconv.FormatUint(v, 10)}}}
				switch r.IntN(8) {
				case 0:
					s.Delete(key)
				case 1, 2, 3:
					obj := *meta
					obj.Body = body
					s.Set(key, &obj)
				default: // streamed, in uneven pieces, of announced or unknown length
					size := int64(len(body))
					if r.IntN(2) == 0 {
						size = -1
					}
					w, err := s.Create(key, meta, size)
					if err != nil {
						continue
					}
					for p := body; len(p) > 0; {
						k := min(len(p), 1+r.IntN(9000))
						w.Write(p[:k])
						p = p[k:]
					}
					w.Commit()
				}
			}
		}()
	}
	select {}
}

// TestCrash kills a writing process with SIGKILL at random moments, then
// checks that every object the reopened store returns is exactly one that
// was written (body and metadata of the same version), that none fails its
// checksums, and that no data file outlives the sweep.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	dir := t.TempDir()
	const cycles = 35
	start := time.Now()
	objects, verified := 0, 0
	for cycle := range cycles {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("cycle %d: child did not start: %q, %v", cycle, line, err)
		}
		time.Sleep(time.Duration(20+rand.IntN(200)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		s := open(t, Options{Path: dir, Size: 4 << 20, SliceSize: 4096})
		// The child may have held more than Size while its own index was
		// loading; the eviction that follows loading here is not what this
		// test reads against.
		<-s.swept
		var infos []Info
		s.Walk("", func(in Info) bool { infos = append(infos, in); return true })
		n := len(infos)
		for _, in := range infos {
			obj, ok := s.Get(in.Key)
			if !ok {
				t.Errorf("cycle %d: %s walked but not found", cycle, in.Key)
				continue
			}
			body, err := readBody(t, obj)
			if err != nil {
				t.Errorf("cycle %d: %s: %v", cycle, in.Key, err)
				continue
			}
			v, _ := strconv.ParseUint(obj.Header.Get("V"), 10, 64)
			if want := content(in.Key, v, len(body)); string(body) != string(want) || in.Size != int64(len(body)) {
				t.Errorf("cycle %d: %s: %d bytes that are not version %d", cycle, in.Key, len(body), v)
			}
			verified++
		}
		objects += n
		withBody := 0 // an empty body has no data file
		for _, in := range infos {
			if in.Size > 0 {
				withBody++
			}
		}
		if files := countDataFiles(t, s); files != withBody || s.Len() != n {
			t.Errorf("cycle %d: %d data files for %d non-empty bodies, Len %d, %d records after the sweep", cycle, files, withBody, s.Len(), n)
		}
		if s.Bytes() > 4<<20 {
			t.Errorf("cycle %d: Bytes() = %d over Size", cycle, s.Bytes())
		}
		if st := s.Stats(); st.ChecksumFailures != 0 {
			t.Errorf("cycle %d: %d checksum failures", cycle, st.ChecksumFailures)
		}
		s.Close()
		if t.Failed() {
			return
		}
	}
	if objects == 0 {
		t.Fatal("the child never stored anything")
	}
	t.Logf("%d kill cycles in %v: %d objects read back and verified", cycles, time.Since(start).Round(time.Millisecond), verified)
}

// populate writes n records (metadata only, 64 KiB bodies whose data
// files are not written) straight into the index of a store in dir.
func populate(t testing.TB, dir string, n int) {
	t.Helper()
	s := open(t, Options{Path: dir, Size: 1 << 50})
	defer s.Close()
	<-s.loaded
	meta := fullObject(nil)
	crcs := []uint32{1}
	stored := time.Now()
	for i := 0; i < n; {
		err := s.db.Update(func(tx *bolt.Tx) error {
			objects, ids := tx.Bucket(bucketObjects), tx.Bucket(bucketIDs)
			for end := min(n, i+50000); i < end; i++ {
				key := fmt.Sprintf("dist-1/assets/v%d/file-%08d.js?w=%d", i%7, i, i%640)
				id := s.nextID.Add(1) - 1
				if err := objects.Put([]byte(key), encodeRecord(nil, id, meta, 64<<10, stored, 1<<20, crcs, nil)); err != nil {
					return err
				}
				if err := ids.Put(binary.BigEndian.AppendUint64(nil, id), []byte(key)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// restart opens the store in dir and reports the time to the first hit,
// the time to load the eviction state and the heap it takes per object.
func restart(t testing.TB, dir string, n int) (first, load time.Duration, perObject float64, s *Store) {
	t.Helper()
	var before, after runtime.MemStats
	settle := func(m *runtime.MemStats) {
		for range 3 { // finalisers and sync.Pool victim caches need more than one
			runtime.GC()
		}
		runtime.ReadMemStats(m)
	}
	settle(&before)
	t0 := time.Now()
	s = open(t, Options{Path: dir, Size: int64(n) << 17})
	if _, ok := s.Get(fmt.Sprintf("dist-1/assets/v%d/file-%08d.js?w=%d", 3%7, 3, 3%640)); !ok {
		t.Fatal("first Get after restart missed")
	}
	first = time.Since(t0)
	<-s.loaded
	load = time.Since(t0)
	settle(&after)
	perObject = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	return first, load, perObject, s
}

func TestRestartManyRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1e5 records")
	}
	const n = 100_000
	dir := t.TempDir()
	populate(t, dir, n)
	first, load, perObject, s := restart(t, dir, n)
	defer s.Close()
	t.Logf("%d records: first hit after %v, eviction state loaded after %v, %.0f heap bytes per object", n, first, load, perObject)
	if s.Len() != n || s.Bytes() == 0 {
		t.Errorf("Len() = %d after loading, want %d", s.Len(), n)
	}
	if first > time.Second {
		t.Errorf("first hit took %v, want under 1s", first)
	}
	if perObject > 160 {
		t.Errorf("%.0f heap bytes per object, want at most 160", perObject)
	}
}

// BenchmarkOpen1e6 restarts a store of 1e6 records (the index file alone
// is some 400 MB): ns/op is the time to the first hit.
func BenchmarkOpen1e6(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	populate(b, dir, n)
	b.ResetTimer()
	for range b.N {
		first, load, perObject, s := restart(b, dir, n)
		b.ReportMetric(float64(first.Milliseconds()), "ms-first-hit")
		b.ReportMetric(float64(load.Milliseconds()), "ms-loaded")
		b.ReportMetric(perObject, "heap-B/object")
		s.Close()
	}
}
