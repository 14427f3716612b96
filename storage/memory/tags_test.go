package memory

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/terncdn/tern/cache"
)

// tagged is a fresh object carrying tags (sorted, as cache.TakeTags
// leaves them).
func tagged(tags ...string) *cache.Object {
	slices.Sort(tags)
	tags = slices.Compact(tags)
	return &cache.Object{Status: 200, Body: []byte("body"), ResponseTime: time.Now(),
		Freshness: cache.Freshness{Storable: true, Lifetime: time.Hour}, Tags: tags}
}

func TestDeleteTagRemovesExactlyTagged(t *testing.T) {
	s := New(1<<20, 0)
	s.Set("d\x00/a\x00", tagged("red", "round"))
	s.Set("d\x00/b\x00", tagged("red"))
	s.Set("d\x00/c\x00", tagged("blue"))
	s.Set("e\x00/a\x00", tagged("red")) // another distribution
	s.Set("d\x00/d\x00", tagged())

	if n := s.DeleteTag("d", "red"); n != 2 {
		t.Errorf("DeleteTag(d, red) = %d, want 2", n)
	}
	for key, want := range map[string]bool{"d\x00/a\x00": false, "d\x00/b\x00": false, "d\x00/c\x00": true, "e\x00/a\x00": true, "d\x00/d\x00": true} {
		if _, ok := s.Get(key); ok != want {
			t.Errorf("after DeleteTag(d, red): %q present %v, want %v", key, ok, want)
		}
	}
	if n := s.DeleteTag("d", "round"); n != 0 {
		t.Errorf("DeleteTag of a tag whose objects are gone = %d, want 0", n)
	}
	if n := s.tags.len(); n != 2 {
		t.Errorf("tag index holds %d entries, want 2 (blue of d, red of e)", n)
	}
}

func TestTagIndexFollowsReplaceAndEviction(t *testing.T) {
	s := New(64<<10, 0)
	s.Set("d\x00/a\x00", tagged("old", "both"))
	s.Set("d\x00/a\x00", tagged("new", "both"))
	if n := s.DeleteTag("d", "old"); n != 0 {
		t.Errorf("DeleteTag of a tag the replacement dropped = %d, want 0", n)
	}
	if _, ok := s.Get("d\x00/a\x00"); !ok {
		t.Fatal("a purge of a tag the object no longer carries removed it")
	}
	if n := s.DeleteTag("d", "both"); n != 1 {
		t.Errorf("DeleteTag of a tag kept across the replacement = %d, want 1", n)
	}
	// Eviction: fill far past capacity; what goes leaves the index.
	for i := range 2000 {
		s.Set(fmt.Sprintf("d\x00/%d\x00", i), tagged("bulk"))
	}
	s.objects.CleanUp()
	if got, want := s.tags.len(), s.Len(); got != want {
		t.Errorf("after evictions the tag index holds %d entries for %d objects", got, want)
	}
}

func TestExpireKeepsObjectsStale(t *testing.T) {
	s := New(1<<20, 0)
	s.Set("d\x00/img/a\x00", tagged("red"))
	s.Set("d\x00/img/b\x00", tagged())
	s.Set("d\x00/css/c\x00", tagged("red"))
	now := time.Now()
	if n := s.ExpirePrefix("d\x00/img/", now); n != 2 {
		t.Errorf("ExpirePrefix = %d, want 2", n)
	}
	if n := s.ExpireTag("d", "red", now); n != 1 {
		t.Errorf("ExpireTag = %d, want 1 (the other red object is already stale)", n)
	}
	for _, key := range []string{"d\x00/img/a\x00", "d\x00/img/b\x00", "d\x00/css/c\x00"} {
		obj, ok := s.Get(key)
		if !ok || obj.FreshFor(now) > 0 {
			t.Errorf("%q after a soft purge: present %v, want present and stale", key, ok)
		}
	}
	if n := s.DeleteTag("d", "red"); n != 2 {
		t.Errorf("DeleteTag after ExpireTag = %d, want 2: an expired object keeps its tags", n)
	}
}

// TestTagIndexExactUnderConcurrency: sets, replacements, deletes and
// evictions racing leave an index that names exactly the stored objects'
// tags.
func TestTagIndexExactUnderConcurrency(t *testing.T) {
	s := New(256<<10, 0)
	tags := []string{"a", "b", "c", "d"}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 5000 {
				key := fmt.Sprintf("d\x00/%d\x00", r.IntN(500))
				switch r.IntN(10) {
				case 0:
					s.Delete(key)
				case 1:
					s.DeleteTag("d", tags[r.IntN(len(tags))])
				case 2:
					s.ExpireTag("d", tags[r.IntN(len(tags))], time.Now())
				default:
					s.Set(key, tagged(tags[r.IntN(len(tags))], tags[r.IntN(len(tags))]))
				}
			}
		})
	}
	wg.Wait()
	s.objects.CleanUp()
	want := 0
	for key, obj := range s.objects.All() {
		want += len(obj.Tags)
		for _, tag := range obj.Tags {
			found := false
			for _, k := range s.tags.keys("d", tag) {
				found = found || k == key
			}
			if !found {
				t.Fatalf("%q carries %q but the index does not list it", key, tag)
			}
		}
	}
	if got := s.tags.len(); got != want {
		t.Errorf("index holds %d entries, the objects carry %d tags", got, want)
	}
}
