package memory

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/terncdn/tern/cache"
)

// TestTagIndexIsCounted: the memory a Store holds stays near its
// capacity whatever tags the origin gives its objects. An origin may give
// each response up to cache.MaxTagBytes of tags, each tag unique to it
// (a URL or an id per object is common); the tag index costs memory per
// tag beyond the tag's bytes, and that must be weighed too, or a Store
// of small objects with many tags holds many times its capacity.
func TestTagIndexIsCounted(t *testing.T) {
	const capacity = 8 << 20
	s := New(capacity, 1<<20)
	tagsOf := func(i int) []string {
		tags := make([]string, 0, 2000)
		for j := range cap(tags) {
			tags = append(tags, fmt.Sprintf("%x.%x", i, j)) // about 8 bytes each
		}
		slices.Sort(tags) // as cache.TakeTags leaves them
		return tags
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 400 {
		s.Set(fmt.Sprintf("d\x00/obj/%d", i), &cache.Object{Status: 200, Body: []byte("x"), Tags: tagsOf(i),
			ResponseTime: time.Now(), Freshness: cache.Freshness{Lifetime: time.Hour}})
	}
	s.objects.CleanUp()
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("store reports %d bytes of %d, %d objects, %d tags indexed; the heap grew %d bytes", s.Bytes(), capacity, s.Len(), len(s.tags.byTag), held)
	if held > 3*capacity {
		t.Errorf("the heap grew by %d MiB for a store of %d MiB: the tag index is not weighed", held>>20, capacity>>20)
	}
}
