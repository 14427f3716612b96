package disk

import (
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/terncdn/tern/cache"
)

// version is the X-Version of a stored object, -1 for a miss.
func version(s *Store, key string) int {
	obj, ok := s.Get(key)
	if !ok {
		return -1
	}
	v, _ := strconv.Atoi(obj.Header.Get("X-Version"))
	return v
}

func versioned(v int, n int) *cache.Object {
	return &cache.Object{Status: 200, Header: cache.Header{"X-Version": {strconv.Itoa(v)}},
		Body: make([]byte, n), Freshness: cache.Freshness{Storable: true, Lifetime: time.Hour}}
}

// TestRecordsFollowChanges: after a hit has cached a key's decoded
// record, every change of the record shows in the next Get.
func TestRecordsFollowChanges(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, s *Store)
		want   int // X-Version the next Get serves, -1 a miss
	}{
		{"replace", func(t *testing.T, s *Store) { s.Set("k", versioned(2, 1000)) }, 2},
		{"metadata update", func(t *testing.T, s *Store) {
			obj, _ := s.Get("k")
			refreshed := *obj
			refreshed.Header = cache.Header{"X-Version": {"3"}}
			s.Set("k", &refreshed) // same data file, new record
		}, 3},
		{"delete", func(t *testing.T, s *Store) { s.Delete("k") }, -1},
		{"delete prefix", func(t *testing.T, s *Store) { s.DeletePrefix("") }, -1},
		{"evict", func(t *testing.T, s *Store) {
			for i := range 20 {
				s.Set("o/"+strconv.Itoa(i), versioned(9, 1000))
			}
		}, -1},
		{"checksum failure", func(t *testing.T, s *Store) {
			obj, _ := s.Get("k")
			f, err := os.OpenFile(s.dataPath(obj.File.(*fileBody).id), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte("garbage"), 10)
			f.Close()
			if err := obj.File.Verify(0, obj.File.Len()); err == nil {
				t.Fatal("Verify passed a corrupt body")
			}
		}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, Options{Path: t.TempDir(), Size: 8000})
			defer s.Close()
			<-s.loaded
			s.Set("k", versioned(1, 1000))
			if v := version(s, "k"); v != 1 {
				t.Fatalf("first Get: version %d", v)
			}
			if version(s, "k"); s.recs.get(hashKey("k"), "k") == nil {
				t.Fatal("a hit did not cache the decoded record")
			}
			tt.change(t, s)
			if v := version(s, "k"); v != tt.want {
				t.Errorf("Get after the change served version %d, want %d", v, tt.want)
			}
		})
	}
}

// TestRecordsPutAfterChange walks the interleaving records guards
// against: a Get reads the old record, a change commits and runs changed,
// then the Get puts what it read. It must not be kept.
func TestRecordsPutAfterChange(t *testing.T) {
	r := newRecords(1 << 20)
	h := hashKey("k")
	seq := r.seq(h) // Get: before its read transaction
	r.changed(h)    // a commit, after its transaction
	r.put(h, "k", versioned(1, 0), 100, seq)
	if r.get(h, "k") != nil {
		t.Fatal("a record read before a change was cached after it")
	}
	r.put(h, "k", versioned(2, 0), 100, r.seq(h))
	if r.get(h, "k") == nil {
		t.Fatal("a record read after the change was not cached")
	}
	if r.get(h, "other key, same hash") != nil {
		t.Error("an entry served another key")
	}
}

func TestRecordsBounded(t *testing.T) {
	r := newRecords(recordShards * 4096)
	for i := range 10000 {
		k := "key/" + strconv.Itoa(i)
		r.put(hashKey(k), k, versioned(1, 0), 200, r.seq(hashKey(k)))
	}
	for i := range r.shards {
		if b := r.shards[i].bytes; b > r.max {
			t.Errorf("shard %d holds %d bytes, bound %d", i, b, r.max)
		}
	}
	off := newRecords(-1)
	off.put(1, "k", versioned(1, 0), 1, 0)
	if off.get(1, "k") != nil {
		t.Error("Records < 0 still caches")
	}
}

// TestRecordsConcurrentReplace: with Gets racing Sets, a Get that starts
// after a Set of version v returned never serves an older version.
func TestRecordsConcurrentReplace(t *testing.T) {
	s := open(t, Options{Path: t.TempDir(), Size: 64 << 20})
	defer s.Close()
	<-s.loaded
	const keys, versions = 4, 60
	var done [keys]atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for k := range keys {
		key := "k" + strconv.Itoa(k)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for v := 1; v <= versions; v++ {
				s.Set(key, versioned(v, 100))
				done[k].Store(int64(v))
			}
		}()
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				min := done[k].Load()
				if v := version(s, key); min > 0 && v < int(min) {
					t.Errorf("%s: served version %d after version %d was stored", key, v, min)
					return
				}
			}
		}()
	}
	for k := range keys {
		for done[k].Load() < versions {
			time.Sleep(time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
}

// TestGetHitDoesNotAllocate: cache.Storage asks that a hit allocate
// nothing; once a record is cached, a disk hit does not.
func TestGetHitDoesNotAllocate(t *testing.T) {
	s := open(t, Options{Path: t.TempDir(), Size: 1 << 20})
	defer s.Close()
	<-s.loaded
	s.Set("dist/a.js", versioned(1, 1000))
	s.Get("dist/a.js")
	if n := testing.AllocsPerRun(100, func() { s.Get("dist/a.js") }); n != 0 {
		t.Errorf("a disk hit allocates %.1f times", n)
	}
}
