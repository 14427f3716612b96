package disk

import (
	"sync"
	"sync/atomic"
	"time"
)

// index is the in-memory eviction state: for every stored object, the hash
// of its key, its data file id, its weight and a CLOCK reference bit with
// the time of its last access. Keys themselves stay in the bbolt index, so
// an entry costs a map slot and a 40-byte slot (see TestHeapPerObject).
//
// Two keys with the same 64-bit hash share one entry: storing the second
// drops the first, which for a cache is only a miss.
type index struct {
	mu     sync.RWMutex
	byHash map[uint64]uint32 // key hash -> slot number
	chunks [][]slot          // slots, in fixed chunks so they never move
	free   []uint32          // slot numbers with id 0
	used   uint32            // slots handed out, free or not
	hand   uint32            // the CLOCK hand
	bytes  int64
	epoch  time.Time // access times are seconds since epoch

	// While the loader fills the index from bbolt in the background,
	// tombstones holds the ids of records that were removed after the
	// loader may have read them, so that it does not resurrect them.
	loading    bool
	tombstones map[uint64]struct{}
}

const chunkBits = 12

// refBit in slot.access marks an entry used since the hand last passed.
const refBit = 1 << 31

type slot struct {
	hash   uint64
	id     uint64 // 0: free
	weight int64
	// access is refBit | seconds since index.epoch of the last Get.
	access   atomic.Uint32
	verified atomic.Pointer[verifiedSet]
}

// victim is an entry taken out of the index whose record and file are to
// be removed.
type victim struct {
	hash, id uint64
}

func newIndex() *index {
	return &index{byHash: make(map[uint64]uint32), epoch: time.Now(), loading: true, tombstones: make(map[uint64]struct{})}
}

func (x *index) slot(n uint32) *slot {
	return &x.chunks[n>>chunkBits][n&(1<<chunkBits-1)]
}

func (x *index) now() uint32 {
	return uint32(time.Since(x.epoch)/time.Second) &^ refBit
}

// lookup returns the slot for hash holding id, or nil. The slot stays
// valid (it never moves) but may be reused once the caller lets go of the
// read lock: callers compare id again if it matters.
func (x *index) lookup(hash, id uint64) *slot {
	x.mu.RLock()
	n, ok := x.byHash[hash]
	var s *slot
	if ok {
		s = x.slot(n)
		if id != 0 && s.id != id {
			s = nil
		}
	}
	x.mu.RUnlock()
	return s
}

// has reports whether an entry holds hash. A hash not held is a key not
// stored, once loading is done.
func (x *index) has(hash uint64) bool {
	x.mu.RLock()
	_, ok := x.byHash[hash]
	x.mu.RUnlock()
	return ok
}

// touch records an access to hash: it sets the reference bit and the
// access time, writing only when they change so that hits on a hot object
// do not bounce its cache line between cores.
func (x *index) touch(hash uint64) {
	s := x.lookup(hash, 0)
	if s == nil {
		return
	}
	if a := refBit | x.now(); s.access.Load() != a {
		s.access.Store(a)
	}
}

// put records that hash now names data file id. old is the id the bbolt
// commit replaced (0 if none). It returns the id of an entry that shared
// the hash but was not old (a hash collision, or an entry the loader put
// back): its record must be dropped too.
func (x *index) put(hash, id uint64, weight int64, old uint64) (displaced uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.loading && old != 0 {
		x.tombstones[old] = struct{}{}
	}
	var s *slot
	if n, ok := x.byHash[hash]; ok {
		s = x.slot(n)
		// The loader may already have put this very record (it read it
		// between the bbolt commit and this call): that is no displacement.
		if s.id != old && s.id != id {
			displaced = s.id
		}
		x.bytes -= s.weight
	} else {
		s = x.slot(x.alloc(hash))
	}
	if s.id != id {
		s.verified.Store(nil) // a partial object gaining a slice keeps what was verified
	}
	s.id, s.weight = id, weight
	s.access.Store(x.now())
	x.bytes += weight
	return displaced
}

// alloc takes a free slot for hash; x.mu is held.
func (x *index) alloc(hash uint64) uint32 {
	var n uint32
	if k := len(x.free); k > 0 {
		n = x.free[k-1]
		x.free = x.free[:k-1]
	} else {
		n = x.used
		x.used++
		if int(n>>chunkBits) == len(x.chunks) {
			x.chunks = append(x.chunks, make([]slot, 1<<chunkBits))
		}
	}
	x.byHash[hash] = n
	x.slot(n).hash = hash
	return n
}

// release frees slot n; x.mu is held.
func (x *index) release(n uint32) {
	s := x.slot(n)
	delete(x.byHash, s.hash)
	x.bytes -= s.weight
	s.id, s.weight, s.hash = 0, 0, 0
	s.verified.Store(nil)
	x.free = append(x.free, n)
}

// remove drops the entry for hash if it holds id, and reports whether it
// did. While loading, id is remembered so the loader skips it.
func (x *index) remove(hash, id uint64) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.loading {
		x.tombstones[id] = struct{}{}
	}
	n, ok := x.byHash[hash]
	if !ok || x.slot(n).id != id {
		return false
	}
	x.release(n)
	return true
}

// load adds an entry read from bbolt by the loader, unless a newer one
// holds the hash or the record was removed since it was read.
func (x *index) load(hash, id uint64, weight int64, access uint32) {
	if _, ok := x.byHash[hash]; ok {
		return
	}
	if _, ok := x.tombstones[id]; ok {
		return
	}
	s := x.slot(x.alloc(hash))
	s.id, s.weight = id, weight
	s.access.Store(access)
	x.bytes += weight
}

// loaded ends loading.
func (x *index) loaded() {
	x.mu.Lock()
	x.loading = false
	x.tombstones = nil
	x.mu.Unlock()
}

// evict takes entries out by CLOCK until the index holds at most capacity
// bytes, and returns them.
func (x *index) evict(capacity int64, dst []victim) []victim {
	x.mu.Lock()
	defer x.mu.Unlock()
	for x.bytes > capacity && len(x.byHash) > 0 {
		n := x.hand
		if x.hand++; x.hand >= x.used {
			x.hand = 0
		}
		s := x.slot(n)
		if s.id == 0 {
			continue
		}
		if a := s.access.Load(); a&refBit != 0 {
			s.access.Store(a &^ refBit) // second chance
			continue
		}
		dst = append(dst, victim{hash: s.hash, id: s.id})
		if x.loading {
			x.tombstones[s.id] = struct{}{}
		}
		x.release(n)
	}
	return dst
}

// nextVictim returns the hash of the entry CLOCK would evict next, looking
// at a few entries from the hand without moving it, and whether the index
// is full: an object of the average weight would not fit without an
// eviction.
func (x *index) nextVictim(capacity int64) (hash uint64, full bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if len(x.byHash) == 0 || x.bytes+x.bytes/int64(len(x.byHash)) <= capacity {
		return 0, false
	}
	n := x.hand
	for range 8 {
		if n >= x.used {
			n = 0
		}
		s := x.slot(n)
		n++
		if s.id == 0 {
			continue
		}
		hash = s.hash
		if s.access.Load()&refBit == 0 {
			break
		}
	}
	return hash, true
}

func (x *index) stats() (n int, bytes int64) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byHash), x.bytes
}

// lastAccess returns when hash was last used in this process, or the zero
// time.
func (x *index) lastAccess(hash uint64) time.Time {
	s := x.lookup(hash, 0)
	if s == nil {
		return time.Time{}
	}
	a := s.access.Load() &^ refBit
	if a == 0 {
		return time.Time{}
	}
	return x.epoch.Add(time.Duration(a) * time.Second)
}

// verifiedSet is the bitmap of the slices of object id whose checksum
// has passed in this process.
type verifiedSet struct {
	id    uint64
	all   atomic.Bool
	words []atomic.Uint64
}

// verifiedFor returns the verified bitmap of object id (of slices slices)
// under hash, making it if needed, or nil when the index holds no entry
// for it. The entry's slot may be reused meanwhile: a set made for
// another id is replaced, never trusted.
func (x *index) verifiedFor(hash, id uint64, slices int) *verifiedSet {
	s := x.lookup(hash, id)
	if s == nil {
		return nil
	}
	cur := s.verified.Load()
	if cur != nil && cur.id == id {
		return cur
	}
	vs := &verifiedSet{id: id, words: make([]atomic.Uint64, (slices+63)/64)}
	if !s.verified.CompareAndSwap(cur, vs) {
		if cur = s.verified.Load(); cur != nil && cur.id == id {
			return cur
		}
	}
	return vs
}

func (v *verifiedSet) has(i int) bool {
	return v.words[i/64].Load()&(1<<(i%64)) != 0
}

func (v *verifiedSet) set(i int) {
	v.words[i/64].Or(1 << (i % 64))
}

func (v *verifiedSet) complete(slices int) bool {
	for i := range slices {
		if !v.has(i) {
			return false
		}
	}
	return true
}
