// Package memory is the hot storage tier: a cache.Storage bounded in bytes
// whose eviction (otter's W-TinyLFU) keeps frequently used objects through
// scans of one-hit objects.
package memory

import (
	"math"
	"strings"
	"sync/atomic"

	"github.com/maypok86/otter/v2"

	"github.com/terncdn/tern/cache"
)

// Store is an in-memory cache.Storage holding at most capacity bytes, as
// weighed by cache.Object.Size. It is safe for concurrent use.
type Store struct {
	objects   *otter.Cache[string, *cache.Object]
	maxObject int64
	evictions atomic.Uint64
	onEvict   atomic.Pointer[func(key string, obj *cache.Object)]
}

var _ cache.Storage = (*Store)(nil)

// New returns a Store that holds at most capacity bytes and refuses objects
// larger than maxObject bytes. A maxObject <= 0, or one above capacity, means
// capacity; otter weighs entries in uint32, so no object above 4 GiB is held.
func New(capacity int64, maxObject int64) *Store {
	if capacity < 1 {
		capacity = 1
	}
	if maxObject <= 0 || maxObject > capacity {
		maxObject = capacity
	}
	if maxObject > math.MaxUint32 {
		maxObject = math.MaxUint32
	}
	s := &Store{maxObject: maxObject}
	s.objects = otter.Must(&otter.Options[string, *cache.Object]{
		MaximumWeight: uint64(capacity),
		Weigher: func(_ string, obj *cache.Object) uint32 {
			return uint32(obj.Size())
		},
		// OnAtomicDeletion runs on the deleting goroutine, so counting does
		// not cost a task on the executor per eviction.
		OnAtomicDeletion: func(e otter.DeletionEvent[string, *cache.Object]) {
			if !e.WasEvicted() {
				return
			}
			s.evictions.Add(1)
			if fn := s.onEvict.Load(); fn != nil {
				(*fn)(e.Key, e.Value)
			}
		},
	})
	return s
}

// Get returns the object stored under key. It does not allocate.
func (s *Store) Get(key string) (*cache.Object, bool) {
	return s.objects.GetIfPresent(key)
}

// Set stores obj under key. An object larger than the Store's maxObject is
// refused, and then whatever was stored under key is removed too: a tier
// must not go on serving the response that obj was meant to replace.
func (s *Store) Set(key string, obj *cache.Object) {
	if obj == nil || obj.Size() > s.maxObject {
		s.objects.Invalidate(key)
		return
	}
	s.objects.Set(key, obj)
}

// Delete removes key and reports whether it was present.
func (s *Store) Delete(key string) bool {
	_, ok := s.objects.Invalidate(key)
	return ok
}

// DeletePrefix removes every key that starts with prefix and returns how
// many were removed. It walks every key in the Store, so it is O(n) in the
// number of objects held; keys set while it runs may or may not be seen.
func (s *Store) DeletePrefix(prefix string) int {
	n := 0
	for key := range s.objects.Keys() {
		if strings.HasPrefix(key, prefix) {
			if _, ok := s.objects.Invalidate(key); ok {
				n++
			}
		}
	}
	return n
}

// Walk calls fn for each object whose key starts with prefix, in no
// particular order, until fn returns false. Like DeletePrefix it visits
// every key: it is for operators listing the cache, not for requests.
func (s *Store) Walk(prefix string, fn func(key string, obj *cache.Object) bool) {
	for key, obj := range s.objects.All() {
		if strings.HasPrefix(key, prefix) && !fn(key, obj) {
			return
		}
	}
}

// Len reports the number of objects held (otter's estimate: exact once
// pending maintenance has run).
func (s *Store) Len() int {
	return s.objects.EstimatedSize()
}

// Bytes reports the total Size of the objects held.
func (s *Store) Bytes() int64 {
	return int64(s.objects.WeightedSize())
}

// Capacity reports the most bytes the Store holds.
func (s *Store) Capacity() int64 {
	return int64(s.objects.GetMaximum())
}

// Evictions reports how many objects have been evicted to make room, since
// the Store was made. Deletes and replacements are not evictions.
func (s *Store) Evictions() uint64 {
	return s.evictions.Load()
}

// OnEvict sets fn to be called with each object evicted to make room (for
// example to demote it to the disk tier); nil removes it. fn runs while the
// Store holds a lock on key's bucket: it must be quick and must not call the
// Store (hand the object to a channel or goroutine instead).
func (s *Store) OnEvict(fn func(key string, obj *cache.Object)) {
	if fn == nil {
		s.onEvict.Store(nil)
		return
	}
	s.onEvict.Store(&fn)
}
