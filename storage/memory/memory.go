// Package memory is the hot storage tier: a cache.Storage bounded in bytes
// whose eviction (otter's W-TinyLFU) keeps frequently used objects through
// scans of one-hit objects.
package memory

import (
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	tags      tagIndex
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
			if e.Cause != otter.CauseReplacement {
				// A replacement updated the index in Set's Compute.
				s.tags.remove(e.Key, e.Value.Tags, nil)
			}
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
	// The tag index changes under the key's bucket lock, as the deletion
	// callback's do, so it always names exactly the keys whose stored
	// object carries each tag.
	s.objects.Compute(key, func(old *cache.Object, found bool) (*cache.Object, otter.ComputeOp) {
		if found {
			s.tags.remove(key, old.Tags, obj.Tags)
		}
		s.tags.add(key, obj.Tags)
		return obj, otter.WriteOp
	})
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

// DeleteTag removes every object of distribution that carries tag and
// returns how many it removed. It visits only those objects (the tag
// index), not the whole Store.
func (s *Store) DeleteTag(distribution, tag string) int {
	n := 0
	for _, key := range s.tags.keys(distribution, tag) {
		s.objects.ComputeIfPresent(key, func(old *cache.Object) (*cache.Object, otter.ComputeOp) {
			if !old.HasTag(tag) {
				return old, otter.CancelOp // replaced meanwhile by an untagged object
			}
			n++
			return nil, otter.InvalidateOp
		})
	}
	return n
}

// ExpirePrefix marks every object whose key starts with prefix stale as
// of now (a soft purge, see cache.Expired) and returns how many it
// marked. Like DeletePrefix it walks every key.
func (s *Store) ExpirePrefix(prefix string, now time.Time) int {
	n := 0
	for key := range s.objects.Keys() {
		if strings.HasPrefix(key, prefix) && s.expire(key, "", now) {
			n++
		}
	}
	return n
}

// ExpireTag marks every object of distribution that carries tag stale as
// of now, visiting only those (the tag index), and returns how many.
func (s *Store) ExpireTag(distribution, tag string, now time.Time) int {
	n := 0
	for _, key := range s.tags.keys(distribution, tag) {
		if s.expire(key, tag, now) {
			n++
		}
	}
	return n
}

// expire replaces key's object with its expired copy, if it carries tag
// (any object, for an empty tag) and is fresh.
func (s *Store) expire(key, tag string, now time.Time) bool {
	done := false
	s.objects.ComputeIfPresent(key, func(old *cache.Object) (*cache.Object, otter.ComputeOp) {
		if tag != "" && !old.HasTag(tag) {
			return old, otter.CancelOp
		}
		exp := cache.Expired(old, now)
		if exp == nil {
			return old, otter.CancelOp
		}
		done = true
		return exp, otter.WriteOp // same tags: the index stays
	})
	return done
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

// tagIndex maps each tag of a distribution (cache.TagPrefix without its
// trailing NUL) to the keys of the objects that carry it, so that a purge
// by tag visits only those. It changes only under the key's otter bucket
// lock (Set's Compute, the deletion callback), which orders the changes of
// one key the way the Store applied them.
type tagIndex struct {
	mu    sync.Mutex
	byTag map[string]map[string]struct{}
}

func tagIndexKey(distribution, tag string) string { return distribution + "\x00" + tag }

// add records that key's object carries tags.
func (x *tagIndex) add(key string, tags []string) {
	if len(tags) == 0 {
		return
	}
	d := cache.DistributionOf(key)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.byTag == nil {
		x.byTag = make(map[string]map[string]struct{})
	}
	for _, t := range tags {
		tk := tagIndexKey(d, t)
		keys := x.byTag[tk]
		if keys == nil {
			keys = make(map[string]struct{})
			x.byTag[tk] = keys
		}
		keys[key] = struct{}{}
	}
}

// remove forgets key under each of tags that keep (the tags of the object
// replacing it) does not hold.
func (x *tagIndex) remove(key string, tags, keep []string) {
	if len(tags) == 0 {
		return
	}
	d := cache.DistributionOf(key)
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, t := range tags {
		if _, kept := slices.BinarySearch(keep, t); kept {
			continue
		}
		tk := tagIndexKey(d, t)
		if keys := x.byTag[tk]; keys != nil {
			delete(keys, key)
			if len(keys) == 0 {
				delete(x.byTag, tk)
			}
		}
	}
}

// keys returns the keys of the objects of distribution carrying tag.
func (x *tagIndex) keys(distribution, tag string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	keys := x.byTag[tagIndexKey(distribution, tag)]
	out := make([]string, 0, len(keys))
	for k := range keys {
		out = append(out, k)
	}
	return out
}

// len reports how many (tag, key) entries the index holds.
func (x *tagIndex) len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, keys := range x.byTag {
		n += len(keys)
	}
	return n
}
