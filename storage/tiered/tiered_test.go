package tiered

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"unsafe"

	"github.com/terncdn/tern/cache"
	"github.com/terncdn/tern/storage/memory"
)

// gatedDisk is a disk tier over a memory store whose writes wait on a gate,
// so a test can hold them in the queue.
type gatedDisk struct {
	*memory.Store
	gate   sync.RWMutex
	files  map[string]*cache.Object // objects to return with a file body
	refuse bool                     // Admit says no
}

func (d *gatedDisk) Admit(string) bool { return !d.refuse }

func (d *gatedDisk) Stream(string, *cache.Object, int64) (cache.BodyWriter, error) {
	return nil, errors.New("gatedDisk does not stream")
}

func (d *gatedDisk) Set(key string, obj *cache.Object) {
	d.gate.RLock()
	defer d.gate.RUnlock()
	d.Store.Set(key, obj)
}

func (d *gatedDisk) Get(key string) (*cache.Object, bool) {
	if o, ok := d.files[key]; ok {
		return o, true
	}
	return d.Store.Get(key)
}

func obj(body string) *cache.Object { return &cache.Object{Status: 200, Body: []byte(body)} }

func newStore(t *testing.T) (*Store, *memory.Store, *gatedDisk) {
	mem := memory.New(1<<20, 1<<20)
	disk := &gatedDisk{Store: memory.New(1<<20, 1<<20), files: map[string]*cache.Object{}}
	s := New(mem, []Disk{disk}, Options{PromoteMax: 1 << 10, DiskMax: 1 << 20})
	t.Cleanup(s.Close)
	return s, mem, disk
}

func TestWritesReachDiskAndServeAfterMemoryLoss(t *testing.T) {
	s, mem, disk := newStore(t)
	s.Set("k", obj("v1"))
	s.Flush()
	if _, ok := disk.Store.Get("k"); !ok {
		t.Fatal("the disk did not get the object")
	}
	mem.Delete("k") // as after a restart
	got, ok := s.Get("k")
	if !ok || string(got.Body) != "v1" {
		t.Fatalf("after losing memory: %v %v", got, ok)
	}
	if st := s.Stats(); st.DiskHits != 1 {
		t.Errorf("stats %+v, want 1 disk hit", st)
	}
}

// TestDeleteNotUndoneByQueuedWrite: a write still queued for the disk when
// the key is invalidated never brings the object back.
func TestDeleteNotUndoneByQueuedWrite(t *testing.T) {
	s, mem, disk := newStore(t)
	disk.gate.Lock() // disk writes wait
	s.Set("d\x00/a\x00", obj("old"))
	s.DeletePrefix("d\x00/a")
	if _, ok := s.Get("d\x00/a\x00"); ok {
		t.Error("an invalidated key was served while the disk caught up")
	}
	disk.gate.Unlock()
	s.Flush()
	mem.Delete("d\x00/a\x00")
	if _, ok := s.Get("d\x00/a\x00"); ok {
		t.Error("the queued write resurrected an invalidated object on disk")
	}
	// A write after the delete is kept.
	s.Set("d\x00/a\x00", obj("new"))
	s.Flush()
	mem.Delete("d\x00/a\x00")
	if got, ok := s.Get("d\x00/a\x00"); !ok || string(got.Body) != "new" {
		t.Errorf("write after the delete: %v %v", got, ok)
	}
}

func TestPassMarkerRemovesDiskCopy(t *testing.T) {
	s, mem, disk := newStore(t)
	s.Set("k", obj("v"))
	s.Set("k", &cache.Object{}) // hit-for-pass marker
	s.Flush()
	if _, ok := disk.Store.Get("k"); ok {
		t.Error("the disk still holds an object replaced by a hit-for-pass marker")
	}
	if o, ok := mem.Get("k"); !ok || o.Status != 0 {
		t.Error("the marker is not in memory")
	}
}

// fileBody is a body in a plain file, for promotion tests.
type fileBody struct {
	path    string
	n       int64
	corrupt bool
}

func (f *fileBody) Len() int64 { return f.n }
func (f *fileBody) Open() (*os.File, int64, error) {
	fh, err := os.Open(f.path)
	return fh, 0, err
}
func (f *fileBody) Verify(off, n int64) error {
	if f.corrupt {
		return os.ErrInvalid
	}
	return nil
}

func TestSmallDiskHitsArePromoted(t *testing.T) {
	s, mem, disk := newStore(t)
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("tiny"), 0o644)
	disk.files["small"] = &cache.Object{Status: 200, File: &fileBody{path: small, n: 4}}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 4096), 0o644)
	disk.files["big"] = &cache.Object{Status: 200, File: &fileBody{path: big, n: 4096}}
	disk.files["bad"] = &cache.Object{Status: 200, File: &fileBody{path: small, n: 4, corrupt: true}}

	got, ok := s.Get("small")
	if !ok || string(got.Body) != "tiny" || got.File != nil {
		t.Fatalf("small disk hit: %+v %v", got, ok)
	}
	if m, ok := mem.Get("small"); !ok || string(m.Body) != "tiny" {
		t.Error("a small disk hit was not promoted to memory")
	}
	if got, ok := s.Get("big"); !ok || got.File == nil {
		t.Error("a large disk hit should be served from its file")
	}
	if _, ok := mem.Get("big"); ok {
		t.Error("a body above PromoteMax was promoted")
	}
	if _, ok := s.Get("bad"); ok {
		t.Error("an object that failed verification was served")
	}
}

// TestGetDoesNotKeepTheKey: callers look up with a view of a buffer they
// reuse (the edge does, to keep hits allocation-free); a promotion must
// store a copy of the key, or the memory tier's key changes under it.
func TestGetDoesNotKeepTheKey(t *testing.T) {
	s, mem, disk := newStore(t)
	dir := t.TempDir()
	for _, k := range []string{"key-1", "key-2"} {
		p := filepath.Join(dir, k)
		os.WriteFile(p, []byte("body of "+k), 0o644)
		disk.files[k] = &cache.Object{Status: 200, File: &fileBody{path: p, n: int64(len("body of " + k))}}
	}
	buf := []byte("key-1")
	if o, ok := s.Get(unsafe.String(&buf[0], len(buf))); !ok || string(o.Body) != "body of key-1" {
		t.Fatalf("Get: %v %v", o, ok)
	}
	copy(buf, "key-2") // the caller reuses its buffer for the next request
	if o, ok := mem.Get("key-1"); !ok || string(o.Body) != "body of key-1" {
		t.Errorf("the promoted object is no longer found under its key: the store kept the caller's buffer")
	}
	var keys []string
	mem.Walk("", func(k string, _ *cache.Object) bool { keys = append(keys, k); return true })
	if len(keys) != 1 || keys[0] != "key-1" {
		t.Errorf("memory keys %q, want [key-1]", keys)
	}
}

// TestRefusedNewVersionDropsOldFromDisk: when the disk does not take a
// newer version of a key (admission, size, a full queue), the older one
// it holds must go, or it comes back once memory lets the new one go.
func TestRefusedNewVersionDropsOldFromDisk(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(*Store, *gatedDisk)
		v2    *cache.Object
	}{
		{"admission", func(_ *Store, d *gatedDisk) { d.refuse = true }, obj("v2")},
		{"size", func(*Store, *gatedDisk) {}, &cache.Object{Status: 200, Body: make([]byte, 2<<20)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, mem, disk := newStore(t)
			s.Set("k", obj("v1"))
			s.Flush()
			c.setup(s, disk)
			s.Set("k", c.v2)
			s.Flush()
			if got, ok := disk.Store.Get("k"); ok && string(got.Body) == "v1" {
				t.Fatal("the disk still holds the older version")
			}
			mem.Delete("k") // memory let it go (eviction, restart)
			if got, ok := s.Get("k"); ok && string(got.Body) == "v1" {
				t.Fatal("the older version came back from disk")
			}
		})
	}
}
