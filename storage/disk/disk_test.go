package disk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/terncdn/tern/cache"
)

func open(t testing.TB, o Options) *Store {
	t.Helper()
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// content is the deterministic body of version v of key.
func content(key string, v uint64, n int) []byte {
	r := rand.New(rand.NewPCG(hashKey(key), v))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// readBody verifies and reads the whole body of obj.
func readBody(t testing.TB, obj *cache.Object) ([]byte, error) {
	t.Helper()
	if obj.File == nil {
		return obj.Body, nil
	}
	if err := obj.File.Verify(0, obj.File.Len()); err != nil {
		return nil, err
	}
	f, off, err := obj.File.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.NewSectionReader(f, off, obj.File.Len()))
}

func fullObject(body []byte) *cache.Object {
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 891011, time.UTC)
	return &cache.Object{
		Status: 206,
		Header: cache.Header{"Content-Type": {"text/plain"}, "Set-Thing": {"a", "", "c"}, "X-Empty": {}},
		Body:   body, RequestTime: t0, ResponseTime: t0.Add(1500 * time.Millisecond), InitialAge: 42 * time.Second,
		Freshness: cache.Freshness{Storable: true, Reason: "why not", Lifetime: time.Hour, StaleWhileRevalidate: time.Minute,
			StaleIfError: 2 * time.Minute, MustRevalidate: true, NoCache: true, NoCacheFields: []string{"set-cookie"}, Heuristic: true},
	}
}

// sameObject fails unless got has want's metadata and body.
func sameObject(t *testing.T, got, want *cache.Object) {
	t.Helper()
	body, err := readBody(t, got)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if !bytes.Equal(body, want.Body) {
		t.Errorf("body: got %d bytes, want %d (equal prefix: %v)", len(body), len(want.Body), bytes.HasPrefix(want.Body, body))
	}
	if got.Body != nil {
		t.Errorf("Body = %d bytes, want nil (File)", len(got.Body))
	}
	if (got.File != nil) != (len(want.Body) > 0) {
		t.Errorf("File = %v for a body of %d bytes", got.File, len(want.Body))
	}
	if got.Status != want.Status || got.InitialAge != want.InitialAge {
		t.Errorf("Status, InitialAge = %d, %v; want %d, %v", got.Status, got.InitialAge, want.Status, want.InitialAge)
	}
	if !got.RequestTime.Equal(want.RequestTime) || !got.ResponseTime.Equal(want.ResponseTime) {
		t.Errorf("times = %v, %v; want %v, %v", got.RequestTime, got.ResponseTime, want.RequestTime, want.ResponseTime)
	}
	if !reflect.DeepEqual(got.Freshness, want.Freshness) {
		t.Errorf("Freshness = %+v, want %+v", got.Freshness, want.Freshness)
	}
	if !reflect.DeepEqual(got.Vary, want.Vary) {
		t.Errorf("Vary = %#v, want %#v", got.Vary, want.Vary)
	}
	if !reflect.DeepEqual(got.Tags, want.Tags) {
		t.Errorf("Tags = %#v, want %#v", got.Tags, want.Tags)
	}
	if len(got.Header) != len(want.Header) {
		t.Errorf("Header = %v, want %v", got.Header, want.Header)
	}
	for k, vs := range want.Header {
		if g := got.Header[k]; len(g) != len(vs) || (len(vs) > 0 && !reflect.DeepEqual(g, vs)) {
			t.Errorf("Header[%q] = %q, want %q", k, g, vs)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	const slice = 1 << 10
	tests := []struct {
		name string
		obj  *cache.Object
	}{
		{"every field, small body", fullObject([]byte("hello, disk"))},
		{"body of several slices", fullObject(content("several", 1, 3*slice+17))},
		{"body of exactly two slices", fullObject(content("two", 1, 2*slice))},
		{"empty body", &cache.Object{Status: 204, Header: cache.Header{"Date": {"x"}}}},
		{"vary marker", &cache.Object{Vary: []string{"accept-encoding", "origin"}, Freshness: cache.Freshness{Storable: true, Lifetime: time.Minute}}},
		{"hit-for-pass marker", &cache.Object{Status: 0, ResponseTime: time.Unix(1700000000, 0)}},
	}
	dir := t.TempDir()
	s := open(t, Options{Path: dir, Size: 1 << 20, SliceSize: slice})
	for _, tt := range tests {
		s.Set(tt.name, tt.obj)
		got, ok := s.Get(tt.name)
		if !ok {
			t.Fatalf("%s: Get after Set missed", tt.name)
		}
		t.Run(tt.name, func(t *testing.T) { sameObject(t, got, tt.obj) })
		if got.Size() != tt.obj.Size() {
			t.Errorf("%s: Size() = %d, stored %d", tt.name, got.Size(), tt.obj.Size())
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Path: dir, Size: 1 << 20, SliceSize: 4 * slice}) // slice size is per object
	defer s.Close()
	for _, tt := range tests {
		got, ok := s.Get(tt.name)
		if !ok {
			t.Fatalf("%s: Get after reopen missed", tt.name)
		}
		t.Run("reopened/"+tt.name, func(t *testing.T) { sameObject(t, got, tt.obj) })
	}
	<-s.loaded
	if s.Len() != len(tests) {
		t.Errorf("Len() after reopen = %d, want %d", s.Len(), len(tests))
	}
	var want int64
	for _, tt := range tests {
		want += tt.obj.Size()
	}
	if s.Bytes() != want {
		t.Errorf("Bytes() after reopen = %d, want %d", s.Bytes(), want)
	}
}

func TestReplaceAndDelete(t *testing.T) {
	s := open(t, Options{Path: t.TempDir(), Size: 1 << 20, SliceSize: 512})
	defer s.Close()
	s.Set("k", fullObject(content("k", 1, 3000)))
	first, _ := s.Get("k")
	want := fullObject(content("k", 2, 1000))
	s.Set("k", want)
	got, ok := s.Get("k")
	if !ok {
		t.Fatal("Get after replace missed")
	}
	sameObject(t, got, want)
	if s.Len() != 1 || s.Bytes() != want.Size() {
		t.Errorf("Len, Bytes = %d, %d; want 1, %d", s.Len(), s.Bytes(), want.Size())
	}
	if _, _, err := first.File.Open(); err == nil {
		t.Error("the replaced body's file still opens")
	}
	if n := countDataFiles(t, s); n != 1 {
		t.Errorf("%d data files after replace, want 1", n)
	}
	if !s.Delete("k") || s.Delete("k") {
		t.Error("Delete reported wrong presence")
	}
	if _, ok := s.Get("k"); ok || s.Len() != 0 || s.Bytes() != 0 {
		t.Errorf("after Delete: Get hit %v, Len %d, Bytes %d", ok, s.Len(), s.Bytes())
	}
	if n := countDataFiles(t, s); n != 0 {
		t.Errorf("%d data files after Delete, want 0", n)
	}
	// Too large for the store: refused, and the old version goes too.
	s.Set("k", fullObject([]byte("small")))
	s.Set("k", fullObject(make([]byte, 2<<20)))
	if _, ok := s.Get("k"); ok {
		t.Error("an object larger than the store was stored, or left the old one")
	}
}

func countDataFiles(t testing.TB, s *Store) int {
	n := 0
	filepath.WalkDir(s.dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Path: dir, Size: 1 << 20})
	_, err := Open(Options{Path: dir, Size: 1 << 20})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	t.Log(err)
	s.Close()
	s = open(t, Options{Path: dir, Size: 1 << 20}) // released by Close
	s.Close()
}

func TestWriter(t *testing.T) {
	s := open(t, Options{Path: t.TempDir(), Size: 1 << 20, SliceSize: 1000})
	defer s.Close()
	body := content("w", 1, 4321)
	meta := fullObject(nil)

	for _, size := range []int64{int64(len(body)), -1} {
		key := "w" + strconv.FormatInt(size, 10)
		w, err := s.Create(key, meta, size)
		if err != nil {
			t.Fatal(err)
		}
		for p := body; len(p) > 0; {
			k := min(len(p), 1+rand.IntN(700))
			if _, err := w.Write(p[:k]); err != nil {
				t.Fatal(err)
			}
			p = p[k:]
			if _, ok := s.Get(key); ok {
				t.Fatal("object visible before Commit")
			}
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		got, ok := s.Get(key)
		if !ok {
			t.Fatal("miss after Commit")
		}
		want := *meta
		want.Body = body
		sameObject(t, got, &want)
	}

	tests := []struct {
		name  string
		size  int64
		write int
	}{
		{"short of the announced size", 100, 50},
		{"past the announced size", 100, 150},
		{"larger than the store", -1, 2 << 20},
	}
	for _, tt := range tests {
		before := countDataFiles(t, s)
		w, err := s.Create(tt.name, meta, tt.size)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(make([]byte, tt.write))
		if err := w.Commit(); err == nil {
			t.Errorf("%s: Commit succeeded", tt.name)
		}
		if _, ok := s.Get(tt.name); ok {
			t.Errorf("%s: visible after a failed Commit", tt.name)
		}
		if n := countDataFiles(t, s); n != before {
			t.Errorf("%s: %d data files left, want %d", tt.name, n, before)
		}
	}
	w, _ := s.Create("aborted", meta, -1)
	w.Write(body)
	w.Abort()
	if _, ok := s.Get("aborted"); ok || countDataFiles(t, s) != 2 {
		t.Error("Abort left the object or its file")
	}
	if _, err := s.Create("huge", meta, 4<<20); err == nil {
		t.Error("Create of an object larger than the store succeeded")
	}
}

func TestChecksum(t *testing.T) {
	const slice = 1024
	tests := []struct {
		name    string
		corrupt func(path string) error
	}{
		{"flipped byte", func(p string) error {
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			b := make([]byte, 1)
			f.ReadAt(b, 2*slice+5)
			b[0] ^= 0x40
			_, err = f.WriteAt(b, 2*slice+5)
			return err
		}},
		{"truncated file", func(p string) error { return os.Truncate(p, slice) }},
		{"missing file", os.Remove},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, Options{Path: t.TempDir(), Size: 1 << 20, SliceSize: slice})
			defer s.Close()
			<-s.loaded
			body := content(tt.name, 1, 4*slice)
			s.Set("k", fullObject(body))
			obj, _ := s.Get("k")
			id := obj.File.(*fileBody).id
			if err := tt.corrupt(s.dataPath(id)); err != nil {
				t.Fatal(err)
			}
			// The first slice is still good.
			if err := obj.File.Verify(0, slice); err != nil && tt.name == "flipped byte" {
				t.Fatalf("Verify of an intact slice: %v", err)
			}
			err := obj.File.Verify(0, obj.File.Len())
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Verify = %v, want ErrCorrupt", err)
			}
			if _, ok := s.Get("k"); ok || s.Len() != 0 || s.Bytes() != 0 {
				t.Errorf("corrupt object kept: Len %d, Bytes %d", s.Len(), s.Bytes())
			}
			if n := countDataFiles(t, s); n != 0 {
				t.Errorf("%d data files left", n)
			}
			wantFailures := uint64(0)
			if tt.name == "flipped byte" {
				wantFailures = 1
			}
			if got := s.Stats().ChecksumFailures; got != wantFailures {
				t.Errorf("ChecksumFailures = %d, want %d", got, wantFailures)
			}
		})
	}
}

func TestVerifyOncePerSlice(t *testing.T) {
	const slice = 1024
	s := open(t, Options{Path: t.TempDir(), Size: 1 << 20, SliceSize: slice})
	defer s.Close()
	<-s.loaded
	s.Set("k", fullObject(content("k", 1, 3*slice)))
	obj, _ := s.Get("k")
	if err := obj.File.Verify(slice, 1); err != nil {
		t.Fatal(err)
	}
	// Corrupt slices 1 and 2: slice 1 passed already and is not read
	// again (by this or a later Get's object); slice 2 is.
	f, _ := os.OpenFile(s.dataPath(obj.File.(*fileBody).id), os.O_RDWR, 0)
	f.WriteAt([]byte("XX"), slice+10)
	f.WriteAt([]byte("XX"), 2*slice+10)
	f.Close()
	again, _ := s.Get("k")
	if err := again.File.Verify(slice, slice); err != nil {
		t.Fatalf("Verify of an already verified slice: %v", err)
	}
	if err := again.File.Verify(slice, slice+1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify of a corrupt slice = %v, want ErrCorrupt", err)
	}
}

func TestEvictionBoundedInBytes(t *testing.T) {
	const size = 256 << 10
	s := open(t, Options{Path: t.TempDir(), Size: size, SliceSize: 4096})
	defer s.Close()
	<-s.loaded
	for i := range 400 {
		s.Set("k"+strconv.Itoa(i), fullObject(make([]byte, rand.IntN(20000))))
		if b := s.Bytes(); b > size {
			t.Fatalf("after %d sets Bytes() = %d > Size %d", i+1, b, size)
		}
	}
	st := s.Stats()
	if st.Evictions == 0 || st.Objects == 0 {
		t.Fatalf("Stats = %+v: want evictions and objects", st)
	}
	// What remains is exactly what the index and the files say.
	var sum int64
	n := 0
	s.Walk("", func(in Info) bool {
		obj, _ := s.Get(in.Key) // Get is allowed inside Walk
		sum += obj.Size()
		n++
		return true
	})
	if n != s.Len() || sum != s.Bytes() {
		t.Errorf("Walk finds %d objects of %d bytes; Len, Bytes = %d, %d", n, sum, s.Len(), s.Bytes())
	}
	if files := countDataFiles(t, s); files > n {
		t.Errorf("%d data files for %d objects: evicted files left behind", files, n)
	}
}

// TestScanResistance stores a hot set, then runs a scan of twice the
// store's size through Admit and Set while the hot set sees no requests
// (the memory tier above answers them). Without admission the scan flushes
// the hot set: the test would fail if Admit let the scan in.
func TestScanResistance(t *testing.T) {
	const (
		size    = 1 << 20
		objSize = 8 << 10
		hot     = 40
	)
	tests := []struct {
		name      string
		admission bool
		wantKept  func(kept int) bool
	}{
		{"with admission", true, func(k int) bool { return k == hot }},
		{"without admission (control)", false, func(k int) bool { return k < hot/4 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, Options{Path: t.TempDir(), Size: size})
			defer s.Close()
			<-s.loaded
			for round := range 3 {
				for i := range hot {
					key := "hot/" + strconv.Itoa(i)
					if s.Admit(key) && round == 0 {
						s.Set(key, fullObject(make([]byte, objSize)))
					}
				}
			}
			for i := range 2 * size / objSize {
				key := "scan/" + strconv.Itoa(i)
				if !tt.admission || s.Admit(key) {
					s.Set(key, fullObject(make([]byte, objSize)))
				}
			}
			kept := 0
			for i := range hot {
				if _, ok := s.Get("hot/" + strconv.Itoa(i)); ok {
					kept++
				}
			}
			if !tt.wantKept(kept) {
				t.Errorf("%d of %d hot objects kept", kept, hot)
			}
			if s.Bytes() > size {
				t.Errorf("Bytes() = %d > %d", s.Bytes(), size)
			}
			st := s.Stats()
			t.Logf("kept %d/%d; %+v", kept, hot, st)
			if tt.admission && st.Rejected == 0 {
				t.Error("Admit rejected nothing")
			}
		})
	}
}

// TestAdmitPopular checks that admission is not a closed door: once the
// store is full, a key requested more often than the victim gets in.
func TestAdmitPopular(t *testing.T) {
	s := open(t, Options{Path: t.TempDir(), Size: 64 << 10})
	defer s.Close()
	<-s.loaded
	// Keys requested once are admitted while there is room, and refused
	// from the first one that would need an eviction.
	i := 0
	for ; i < 100; i++ {
		key := "fill/" + strconv.Itoa(i)
		if !s.Admit(key) {
			break
		}
		s.Set(key, fullObject(make([]byte, 4<<10)))
	}
	if i == 100 || s.Stats().Evictions != 0 || s.Bytes()+s.Bytes()/int64(s.Len()) <= 64<<10 {
		t.Fatalf("after %d keys: admission closed at the wrong point (Bytes %d)", i, s.Bytes())
	}
	// A key requested more often than the victim gets in.
	admitted := false
	for range 3 {
		admitted = admitted || s.Admit("popular")
	}
	if !admitted {
		t.Error("a key requested 4 times was never admitted")
	}
}

func TestWalkDeletePrefix(t *testing.T) {
	s := open(t, Options{Path: t.TempDir(), Size: 1 << 20, SliceSize: 100})
	defer s.Close()
	keys := []string{"a/1", "a/2", "a/3/x", "ab", "b/1"}
	for i, k := range keys {
		s.Set(k, &cache.Object{Status: 200 + i, Body: make([]byte, 150*i)})
	}
	before := time.Now()
	s.Get("a/2")

	var seen []Info
	s.Walk("a/", func(in Info) bool { seen = append(seen, in); return true })
	if len(seen) != 3 {
		t.Fatalf("Walk(a/) saw %d objects, want 3: %+v", len(seen), seen)
	}
	for i, in := range seen {
		if in.Key != keys[i] || in.Status != 200+i || in.Size != int64(150*i) || in.Slices != (150*i+99)/100 {
			t.Errorf("Info %d = %+v", i, in)
		}
		if in.Stored.IsZero() || in.Stored.After(time.Now()) || in.LastAccess.Before(in.Stored) {
			t.Errorf("Info %d times: stored %v, last access %v", i, in.Stored, in.LastAccess)
		}
	}
	if seen[1].LastAccess.Before(before.Truncate(time.Second)) {
		t.Errorf("LastAccess of a/2 = %v, want after its Get at %v", seen[1].LastAccess, before)
	}
	n := 0
	s.Walk("", func(Info) bool { n++; return n < 2 })
	if n != 2 {
		t.Errorf("Walk went on after fn returned false: %d calls", n)
	}

	if got := s.DeletePrefix("a/"); got != 3 {
		t.Errorf("DeletePrefix(a/) = %d, want 3", got)
	}
	for _, k := range keys {
		_, ok := s.Get(k)
		if want := k == "ab" || k == "b/1"; ok != want {
			t.Errorf("Get(%q) after DeletePrefix: %v, want %v", k, ok, want)
		}
	}
	if s.Len() != 2 {
		t.Errorf("Len() = %d, want 2", s.Len())
	}
}

func TestWalkManyChunks(t *testing.T) {
	s := open(t, Options{Path: t.TempDir(), Size: 1 << 30})
	defer s.Close()
	const n = 3*walkChunk + 7
	for i := range n {
		s.Set(fmt.Sprintf("k/%05d", i), &cache.Object{Status: 0})
	}
	var prev string
	count := 0
	s.Walk("k/", func(in Info) bool {
		if in.Key <= prev {
			t.Fatalf("Walk out of order or repeated: %q after %q", in.Key, prev)
		}
		prev = in.Key
		count++
		return true
	})
	if count != n {
		t.Errorf("Walk saw %d, want %d", count, n)
	}
	if got := s.DeletePrefix("k/"); got != n || s.Len() != 0 {
		t.Errorf("DeletePrefix = %d, Len %d; want %d, 0", got, s.Len(), n)
	}
}

func TestStats(t *testing.T) {
	s := open(t, Options{Path: t.TempDir(), Size: 1 << 20})
	defer s.Close()
	<-s.loaded
	s.Set("a", &cache.Object{Status: 200, Body: []byte("x")})
	s.Get("a")
	s.Get("a")
	s.Get("nope")
	s.Admit("z")
	want := Stats{Objects: 1, Bytes: (&cache.Object{Body: []byte("x")}).Size(), Capacity: 1 << 20, Hits: 2, Misses: 1, Admitted: 1}
	if got := s.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestSweepOrphans(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Path: dir, Size: 1 << 20})
	s.Set("live", &cache.Object{Status: 200, Body: []byte("live")})
	orphan := s.nextID.Add(1) - 1 // written, never committed (a crash)
	if err := s.ensureDir(orphan); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(s.dataPath(orphan), []byte("orphan"), 0o644)
	s.Close()

	s = open(t, Options{Path: dir, Size: 1 << 20})
	defer s.Close()
	<-s.swept
	if _, err := os.Stat(s.dataPath(orphan)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("orphan data file survived the sweep: %v", err)
	}
	obj, ok := s.Get("live")
	if !ok {
		t.Fatal("live object lost")
	}
	if b, err := readBody(t, obj); err != nil || string(b) != "live" {
		t.Errorf("live body = %q, %v", b, err)
	}
}

// TestConcurrent writes, reads, replaces and deletes from many goroutines;
// every object read must be whole and match its version.
func TestConcurrent(t *testing.T) {
	s := open(t, Options{Path: t.TempDir(), Size: 2 << 20, SliceSize: 4096})
	defer s.Close()
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 300 {
				key := "k" + strconv.Itoa(r.IntN(40))
				switch r.IntN(5) {
				case 0, 1:
					v := r.Uint64()
					obj := &cache.Object{Status: 200, Header: cache.Header{"V": {strconv.FormatUint(v, 10)}},
						Body: content(key, v, r.IntN(30000))}
					s.Set(key, obj)
				case 2:
					s.Delete(key)
				default:
					obj, ok := s.Get(key)
					if !ok {
						continue
					}
					body, err := readBody(t, obj)
					if err != nil {
						continue // replaced or deleted meanwhile
					}
					v, _ := strconv.ParseUint(obj.Header.Get("V"), 10, 64)
					if !bytes.Equal(body, content(key, v, len(body))) || int64(len(body)) != obj.BodyLen() {
						t.Errorf("%s: body does not match version %d", key, v)
					}
				}
			}
		})
	}
	wg.Wait()
	if s.Bytes() > 2<<20 {
		t.Errorf("Bytes() = %d over Size", s.Bytes())
	}
	if st := s.Stats(); st.ChecksumFailures != 0 || st.WriteErrors != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestFsync(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Path: dir, Size: 1 << 20, Fsync: true})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { s.Set("k"+strconv.Itoa(i), fullObject(content("k", uint64(i), 5000))) })
	}
	wg.Wait()
	s.Close()
	s = open(t, Options{Path: dir, Size: 1 << 20, Fsync: true})
	defer s.Close()
	for i := range 8 {
		obj, ok := s.Get("k" + strconv.Itoa(i))
		if !ok {
			t.Fatalf("k%d lost", i)
		}
		sameObject(t, obj, fullObject(content("k", uint64(i), 5000)))
	}
}

func TestRecordRejectsGarbage(t *testing.T) {
	good := encodeRecord(nil, 7, fullObject(nil), 5000, time.Now(), 1024, []uint32{1, 2, 3, 4, 5}, nil)
	if _, err := decodeRecord(good); err != nil {
		t.Fatal(err)
	}
	// Every field is read in turn up to the last byte: any strict prefix
	// is an error, never a shorter object.
	for n := range len(good) {
		if _, err := decodeRecord(bytes.Clone(good[:n])); err == nil {
			t.Fatalf("a %d-byte prefix of a %d-byte record decoded", n, len(good))
		}
	}
	bad := bytes.Clone(good)
	bad[0] = 99
	if _, err := decodeRecord(bad); err == nil {
		t.Error("unknown format byte accepted")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(nil, 7, fullObject(nil), 5000, time.Now(), 1024, []uint32{1, 2, 3, 4, 5}, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		again := encodeRecord(nil, r.id, &r.obj, r.bodyLen, r.stored, r.sliceSize, r.crcs, r.present)
		if _, err := decodeRecord(again); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
	})
}

// TestSetNewMetadataKeepsBody: Set of an object whose File is this store's
// (a disk object refreshed by a 304) rewrites its metadata over the same
// body, durably; for a body replaced meanwhile it changes nothing.
func TestSetNewMetadataKeepsBody(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Path: dir, Size: 64 << 20, SliceSize: 64 << 10})
	body := content("k", 1, 200<<10)
	s.Set("k", &cache.Object{Status: 200, Header: cache.Header{"Etag": {`"v1"`}}, Body: body,
		Freshness: cache.Freshness{Storable: true, Lifetime: time.Second}})
	old, ok := s.Get("k")
	if !ok || old.File == nil {
		t.Fatal("not stored")
	}
	refreshed := *old
	refreshed.Header = cache.Header{"Etag": {`"v1"`}, "X-Refreshed": {"yes"}}
	refreshed.Freshness.Lifetime = time.Hour
	s.Set("k", &refreshed)
	s.Close()

	s = open(t, Options{Path: dir, Size: 64 << 20, SliceSize: 64 << 10})
	defer s.Close()
	got, ok := s.Get("k")
	if !ok || got.Header.Get("X-Refreshed") != "yes" || got.Freshness.Lifetime != time.Hour {
		t.Fatalf("after reopen: %+v", got)
	}
	if b, err := readBody(t, got); err != nil || !bytes.Equal(b, body) {
		t.Fatalf("body after the metadata update: %d bytes, %v", len(b), err)
	}

	// A metadata update for a body that was replaced since is refused.
	stale := *got
	s.Set("k", &cache.Object{Status: 200, Body: content("k", 2, 1000), Freshness: cache.Freshness{Storable: true}})
	stale.Header = cache.Header{"X-Stale-Update": {"yes"}}
	s.Set("k", &stale)
	now, ok := s.Get("k")
	if !ok {
		t.Fatal("a metadata update for a replaced body removed the new one")
	}
	if now.Header.Get("X-Stale-Update") != "" {
		t.Error("a metadata update for a replaced body was applied over the new one")
	}
	if b, _ := readBody(t, now); !bytes.Equal(b, content("k", 2, 1000)) {
		t.Error("the new body was changed")
	}
}

// TestLoaderSeesNewRecordFirst: the background loader can read a record a
// Set just committed before the Set puts it in the index; the Set must not
// then take its own entry for a displaced one and drop the object it
// stored (TestFsync lost objects this way now and then).
func TestLoaderSeesNewRecordFirst(t *testing.T) {
	x := newIndex()
	x.mu.Lock()
	x.loading = true
	x.tombstones = map[uint64]struct{}{}
	x.load(42, 7, 100, 0) // the loader read the committed record
	x.mu.Unlock()
	if displaced := x.put(42, 7, 100, 0); displaced != 0 {
		t.Fatalf("put of the record the loader already holds displaced id %d: the new object would be dropped", displaced)
	}
	// A different id under the hash is still displaced (a collision).
	if displaced := x.put(42, 9, 100, 0); displaced != 7 {
		t.Errorf("a colliding entry was not reported: displaced %d, want 7", displaced)
	}
}

// TestWritesInProgressCountAgainstSize: the bytes of a large download
// being written take room on the disk before it commits, so the store
// evicts for them as they arrive, not only at commit.
func TestWritesInProgressCountAgainstSize(t *testing.T) {
	const size = 1 << 20
	s := open(t, Options{Path: t.TempDir(), Size: size, SliceSize: 64 << 10})
	defer s.Close()
	<-s.loaded
	for i := range 14 { // 14 x 64 KiB: most of the store
		s.Set(fmt.Sprintf("small-%d", i), fullObject(content("small", uint64(i), 64<<10)))
	}
	filled := s.Bytes()
	w, err := s.Create("large", fullObject(nil), 600<<10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(content("large", 1, 600<<10)); err != nil {
		t.Fatal(err)
	}
	if got := s.Bytes() + 600<<10; got > size {
		t.Errorf("with 600 KiB written and not committed the store holds %d bytes (%d before): %d over its size",
			s.Bytes(), filled, got-size)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if s.Bytes() > size {
		t.Errorf("after commit: %d bytes", s.Bytes())
	}
	if s.writing.Load() != 0 {
		t.Errorf("%d bytes still counted as being written", s.writing.Load())
	}
	w, _ = s.Create("aborted", fullObject(nil), -1)
	w.Write(make([]byte, 100<<10))
	w.Abort()
	if s.writing.Load() != 0 {
		t.Errorf("an aborted writer left %d bytes counted", s.writing.Load())
	}
}
