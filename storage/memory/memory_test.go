package memory

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/terncdn/tern/cache"
)

// object returns an object whose Size is exactly size bytes (size >= 256).
func object(size int64) *cache.Object {
	return &cache.Object{Status: 200, Body: make([]byte, size-256)}
}

func TestCapacityBoundedInBytes(t *testing.T) {
	const capacity = 1 << 20
	s := New(capacity, 64<<10)
	sizes := []int64{300, 1 << 10, 4 << 10, 16 << 10, 64 << 10}
	for i := range 20000 {
		s.Set("k"+strconv.Itoa(i), object(sizes[i%len(sizes)]))
		// otter may overshoot while its maintenance catches up; bound the
		// slack so a broken weigher or a missing maximum still fails.
		if b := s.Bytes(); b > 2*capacity {
			t.Fatalf("after %d sets Bytes() = %d, want <= %d", i+1, b, 2*capacity)
		}
	}
	s.objects.CleanUp()
	if b := s.Bytes(); b > capacity {
		t.Fatalf("after clean-up Bytes() = %d, want <= %d", b, capacity)
	}
	var sum int64
	for _, obj := range s.objects.All() {
		sum += obj.Size()
	}
	if sum != s.Bytes() {
		t.Fatalf("Bytes() = %d, but the held objects weigh %d", s.Bytes(), sum)
	}
	if s.Evictions() == 0 {
		t.Fatal("Evictions() = 0 after inserting far more than capacity")
	}
	if s.Len() == 0 || s.Len() > capacity/300 {
		t.Fatalf("Len() = %d, want between 1 and %d", s.Len(), capacity/300)
	}
}

func TestSetRefusesOversized(t *testing.T) {
	tests := []struct {
		name      string
		capacity  int64
		maxObject int64
		size      int64
		stored    bool
	}{
		{"under limit", 1 << 20, 4096, 4000, true},
		{"at limit", 1 << 20, 4096, 4096, true},
		{"over limit", 1 << 20, 4096, 4097, false},
		{"limit defaults to capacity", 8192, 0, 8192, true},
		{"over capacity", 8192, 0, 8193, false},
		{"limit clamped to capacity", 8192, 1 << 20, 8193, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.capacity, tt.maxObject)
			s.Set("k", object(tt.size))
			if _, ok := s.Get("k"); ok != tt.stored {
				t.Fatalf("Get after Set of %d bytes: ok = %v, want %v", tt.size, ok, tt.stored)
			}
		})
	}
}

func TestRefusedSetRemovesOldObject(t *testing.T) {
	s := New(1<<20, 4096)
	s.Set("k", object(1000))
	s.Set("k", object(5000))
	if obj, ok := s.Get("k"); ok {
		t.Fatalf("Get returned the replaced object of %d bytes after its replacement was refused", obj.Size())
	}
}

func TestGetSetDelete(t *testing.T) {
	s := New(1<<20, 0)
	a, b := object(500), object(600)
	s.Set("k", a)
	if got, ok := s.Get("k"); !ok || got != a {
		t.Fatalf("Get = %p, %v; want %p, true", got, ok, a)
	}
	s.Set("k", b)
	if got, _ := s.Get("k"); got != b {
		t.Fatalf("Get after replace = %p, want %p", got, b)
	}
	if !s.Delete("k") {
		t.Fatal("Delete of a present key reported false")
	}
	if s.Delete("k") {
		t.Fatal("Delete of an absent key reported true")
	}
	if _, ok := s.Get("k"); ok {
		t.Fatal("Get found a deleted key")
	}
	if s.Evictions() != 0 {
		t.Fatalf("Evictions() = %d after only replace and delete, want 0", s.Evictions())
	}
}

// A crawler that reads every object once must not flush the objects that
// viewers keep asking for. Each hot key comes back only after 2000 distinct
// cold keys, twice what the Store holds, so a plain LRU would miss on every
// hot request; a frequency-aware policy keeps them.
func TestHotKeysSurviveScan(t *testing.T) {
	const (
		objSize  = 1 << 10
		capacity = 1000 * objSize
		hot      = 200
	)
	s := New(capacity, 0)
	get := func(key string) bool {
		if _, ok := s.Get(key); ok {
			return true
		}
		s.Set(key, object(objSize))
		return false
	}
	for range 20 {
		for i := range hot {
			get("hot" + strconv.Itoa(i))
		}
	}
	hotHits, hotGets := 0, 0
	for i := range 50000 {
		get("cold" + strconv.Itoa(i))
		if i%10 == 0 {
			hotGets++
			if get("hot" + strconv.Itoa(hotGets%hot)) {
				hotHits++
			}
		}
	}
	if hotHits < hotGets*9/10 {
		t.Fatalf("hot hit ratio during a scan = %d/%d, want >= 90%%", hotHits, hotGets)
	}
	s.objects.CleanUp()
	survived := 0
	for i := range hot {
		if _, ok := s.objects.GetEntryQuietly("hot" + strconv.Itoa(i)); ok {
			survived++
		}
	}
	if survived < hot*9/10 {
		t.Fatalf("%d of %d hot objects survived a scan of 50000 cold ones, want >= %d", survived, hot, hot*9/10)
	}
}

func TestDeletePrefix(t *testing.T) {
	s := New(1<<20, 0)
	for _, k := range []string{"a/1", "a/2", "a/b/3", "ab", "b/a/1", "a"} {
		s.Set(k, object(300))
	}
	tests := []struct {
		prefix  string
		removed int
		left    []string
	}{
		{"a/", 3, []string{"ab", "b/a/1", "a"}},
		{"a/", 0, []string{"ab", "b/a/1", "a"}},
		{"a", 2, []string{"b/a/1"}},
		{"", 1, nil},
	}
	for _, tt := range tests {
		if got := s.DeletePrefix(tt.prefix); got != tt.removed {
			t.Fatalf("DeletePrefix(%q) = %d, want %d", tt.prefix, got, tt.removed)
		}
		for _, k := range tt.left {
			if _, ok := s.Get(k); !ok {
				t.Fatalf("after DeletePrefix(%q), %q is gone", tt.prefix, k)
			}
		}
		if s.Len() != len(tt.left) {
			t.Fatalf("after DeletePrefix(%q), Len() = %d, want %d", tt.prefix, s.Len(), len(tt.left))
		}
	}
}

func TestOnEvict(t *testing.T) {
	s := New(10*1024, 0)
	var n atomic.Int64
	s.OnEvict(func(key string, obj *cache.Object) {
		if obj == nil || key == "" {
			t.Errorf("OnEvict(%q, %v)", key, obj)
		}
		n.Add(1)
	})
	for i := range 100 {
		s.Set(strconv.Itoa(i), object(1024))
	}
	s.objects.CleanUp()
	if n.Load() == 0 || uint64(n.Load()) != s.Evictions() {
		t.Fatalf("OnEvict called %d times, Evictions() = %d; want equal and > 0", n.Load(), s.Evictions())
	}
}

func TestConcurrentGetSet(t *testing.T) {
	s := New(256<<10, 0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 5000 {
				key := fmt.Sprintf("k%d", (i*7+g)%500)
				switch i % 4 {
				case 0:
					s.Set(key, object(1024))
				case 1:
					s.Delete(key)
				default:
					if obj, ok := s.Get(key); ok && obj.Size() != 1024 {
						t.Errorf("Get(%q) returned an object of %d bytes", key, obj.Size())
					}
				}
			}
			s.DeletePrefix(fmt.Sprintf("k%d", g))
		})
	}
	wg.Wait()
	s.objects.CleanUp()
	if b := s.Bytes(); b > 256<<10 {
		t.Fatalf("Bytes() = %d after concurrent use, want <= %d", b, 256<<10)
	}
}

func BenchmarkGet(b *testing.B) {
	s := New(64<<20, 0)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "/static/asset-" + strconv.Itoa(i) + ".js"
		s.Set(keys[i], object(4096))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok := s.Get(keys[i&1023]); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkGetParallel(b *testing.B) {
	s := New(64<<20, 0)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "/static/asset-" + strconv.Itoa(i) + ".js"
		s.Set(keys[i], object(4096))
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s.Get(keys[i&1023])
			i++
		}
	})
}

func BenchmarkSet(b *testing.B) {
	s := New(16<<20, 0)
	keys := make([]string, 1<<14)
	for i := range keys {
		keys[i] = "/img/" + strconv.Itoa(i) + ".png"
	}
	obj := object(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.Set(keys[i&(1<<14-1)], obj)
	}
}

func BenchmarkSetGetParallel(b *testing.B) {
	s := New(16<<20, 0)
	keys := make([]string, 1<<14)
	for i := range keys {
		keys[i] = "/img/" + strconv.Itoa(i) + ".png"
	}
	obj := object(4096)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			k := keys[i&(1<<14-1)]
			if i%10 == 0 {
				s.Set(k, obj)
			} else {
				s.Get(k)
			}
			i++
		}
	})
}

func TestWalk(t *testing.T) {
	s := New(1<<20, 1<<20)
	for _, k := range []string{"d\x00/a\x00", "d\x00/b\x00", "e\x00/a\x00"} {
		s.Set(k, &cache.Object{Status: 200, Body: []byte(k)})
	}
	var got []string
	s.Walk("d\x00", func(key string, obj *cache.Object) bool {
		got = append(got, key)
		return true
	})
	slices.Sort(got)
	if len(got) != 2 || got[0] != "d\x00/a\x00" || got[1] != "d\x00/b\x00" {
		t.Errorf("Walk(d) = %q", got)
	}
	n := 0
	s.Walk("", func(string, *cache.Object) bool { n++; return false })
	if n != 1 {
		t.Errorf("Walk went on after fn returned false: %d calls", n)
	}
}
