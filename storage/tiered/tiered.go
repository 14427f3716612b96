// Package tiered puts the memory tier over disk tiers: a hit in memory is
// served from memory, a hit on disk is served from the file (and small
// objects are promoted to memory), and what is stored goes to memory at once
// and to disk behind the request, never reordered with invalidations.
package tiered

import (
	"errors"
	"hash/maphash"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/terncdn/tern/cache"
)

// Memory is the hot tier (storage/memory).
type Memory interface {
	cache.Storage
}

// Disk is one persistent tier (storage/disk).
type Disk interface {
	cache.Storage
	// Admit records a request for key and reports whether the object is
	// worth storing on this disk (its admission policy).
	Admit(key string) bool
}

// Options configure a Store.
type Options struct {
	// PromoteMax is the largest body promoted from disk to memory on a disk
	// hit; larger objects are served from their files.
	PromoteMax int64
	// DiskMax is the largest body stored on disk.
	DiskMax int64
	// QueueLen bounds the disk writes waiting per disk; beyond it, objects
	// are not written (counted in Stats.DiskQueueDrops). Default 1024.
	QueueLen int
}

// Store is a cache.Storage over one memory tier and zero or more disks.
type Store struct {
	mem   Memory
	disks []*diskQueue
	seed  maphash.Seed
	o     Options

	// epoch counts deletes: a promotion of what was read from disk before
	// a delete must not put it back in memory after it.
	epoch    atomic.Uint64
	deleting sync.RWMutex

	memHits, diskHits, misses, promotions, drops atomic.Uint64
}

// Stats counts hits per tier.
type Stats struct {
	MemoryHits, DiskHits, Misses, Promotions, DiskQueueDrops uint64
}

// New builds a Store. With no disks it is the memory tier alone.
func New(mem Memory, disks []Disk, o Options) *Store {
	if o.QueueLen <= 0 {
		o.QueueLen = 1024
	}
	s := &Store{mem: mem, seed: maphash.MakeSeed(), o: o}
	for _, d := range disks {
		q := &diskQueue{disk: d, ops: make(chan diskOp, o.QueueLen), done: make(chan struct{})}
		go q.run()
		s.disks = append(s.disks, q)
	}
	return s
}

// diskQueue applies writes and deletes to one disk in the order they were
// made, off the request path. pending holds the deletes not applied yet:
// until one is, Get treats the keys it covers as missing on that disk, so an
// invalidation takes effect at once even while the disk catches up.
type diskQueue struct {
	disk Disk
	ops  chan diskOp
	done chan struct{}

	mu       sync.Mutex
	pending  []*diskOp
	npending atomic.Int32
}

type diskOp struct {
	key    string
	prefix bool // delete every key starting with key
	obj    *cache.Object
	del    bool
	flush  chan struct{} // Flush: closed when reached
}

func (q *diskQueue) run() {
	defer close(q.done)
	for op := range q.ops {
		switch {
		case op.flush != nil:
			close(op.flush)
		case op.del && op.prefix:
			q.disk.DeletePrefix(op.key)
			q.applied(&op)
		case op.del:
			q.disk.Delete(op.key)
			q.applied(&op)
		default:
			q.disk.Set(op.key, op.obj)
		}
	}
}

func (q *diskQueue) applied(op *diskOp) {
	q.mu.Lock()
	for i, p := range q.pending {
		if p.key == op.key && p.prefix == op.prefix {
			q.pending = append(q.pending[:i], q.pending[i+1:]...)
			break
		}
	}
	q.npending.Store(int32(len(q.pending)))
	q.mu.Unlock()
}

// deleted reports whether a delete not applied yet covers key.
func (q *diskQueue) deleted(key string) bool {
	if q.npending.Load() == 0 {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, p := range q.pending {
		if p.key == key || p.prefix && strings.HasPrefix(key, p.key) {
			return true
		}
	}
	return false
}

// enqueueDelete queues a delete; it waits for room rather than drop it: a
// lost invalidation would serve what was purged.
func (q *diskQueue) enqueueDelete(key string, prefix bool) {
	op := diskOp{key: key, prefix: prefix, del: true}
	q.mu.Lock()
	q.pending = append(q.pending, &op)
	q.npending.Store(int32(len(q.pending)))
	q.mu.Unlock()
	q.ops <- op
}

func (s *Store) diskFor(key string) *diskQueue {
	if len(s.disks) == 0 {
		return nil
	}
	return s.disks[maphash.String(s.seed, key)%uint64(len(s.disks))]
}

// Get looks in memory, then on the key's disk. A disk hit on a small
// object promotes it to memory.
func (s *Store) Get(key string) (*cache.Object, bool) {
	if obj, ok := s.mem.Get(key); ok {
		s.memHits.Add(1)
		return obj, true
	}
	q := s.diskFor(key)
	epoch := s.epoch.Load()
	if q == nil || q.deleted(key) {
		s.misses.Add(1)
		return nil, false
	}
	obj, ok := q.disk.Get(key)
	if !ok {
		s.misses.Add(1)
		return nil, false
	}
	s.diskHits.Add(1)
	if obj.File != nil && obj.File.Len() <= s.o.PromoteMax {
		if mem, err := load(obj); err == nil {
			if s.promote(key, mem, epoch) {
				s.promotions.Add(1)
			}
			return mem, true
		}
		// Verify failed: the disk tier dropped the object.
		s.misses.Add(1)
		return nil, false
	}
	if obj.File == nil && (obj.Vary != nil || obj.Status == 0) {
		s.promote(key, obj, epoch) // markers are small: keep them at hand
	}
	return obj, true
}

// promote puts what Get read from disk into memory, unless a delete ran
// since Get began (the caller still serves it: it was current when asked).
func (s *Store) promote(key string, obj *cache.Object, epoch uint64) bool {
	s.deleting.RLock()
	defer s.deleting.RUnlock()
	if s.epoch.Load() != epoch {
		return false
	}
	// Get's key may be a view of the caller's reused buffer (the edge's
	// lookups are): what is kept needs a copy of its own.
	s.mem.Set(strings.Clone(key), obj)
	return true
}

// load reads a disk object's body into memory, checking it.
func load(obj *cache.Object) (*cache.Object, error) {
	n := obj.File.Len()
	if err := obj.File.Verify(0, n); err != nil {
		return nil, err
	}
	f, off, err := obj.File.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	body := make([]byte, n)
	if _, err := f.ReadAt(body, off); err != nil && !(errors.Is(err, io.EOF) && int64(len(body)) == n) {
		return nil, err
	}
	mem := *obj
	mem.File, mem.Body = nil, body
	return &mem, nil
}

// Set stores obj in memory now and, if its disk admits it, on disk behind
// the request. A hit-for-pass marker (Status 0) stays in memory and removes
// what the disk held for the key.
func (s *Store) Set(key string, obj *cache.Object) {
	s.mem.Set(key, obj)
	q := s.diskFor(key)
	if q == nil {
		return
	}
	if obj.Status == 0 && obj.Vary == nil {
		q.enqueueDelete(key, false)
		return
	}
	// An object whose body is already in a file (a disk object refreshed by
	// a 304) goes back to its disk with its new metadata; others are
	// written if the disk admits them.
	if obj.File == nil && (obj.BodyLen() > s.o.DiskMax || !q.disk.Admit(key)) {
		return
	}
	select {
	case q.ops <- diskOp{key: key, obj: obj}:
	default:
		s.drops.Add(1) // the disk is behind: memory still has it
	}
}

// Delete removes key from every tier; on disk in order with the writes
// queued before it.
func (s *Store) Delete(key string) bool {
	s.bump()
	ok := s.mem.Delete(key)
	if q := s.diskFor(key); q != nil {
		q.enqueueDelete(key, false)
	}
	return ok
}

// DeletePrefix removes every key with prefix from every tier. It returns
// how many the memory tier held; the disks catch up behind, while Get
// already treats their keys as missing.
func (s *Store) DeletePrefix(prefix string) int {
	s.bump()
	n := s.mem.DeletePrefix(prefix)
	for _, q := range s.disks {
		q.enqueueDelete(prefix, true)
	}
	return n
}

// bump starts a delete: promotions that began before it are dropped. The
// write lock waits for a promotion in progress, which then lands before the
// delete removes it.
func (s *Store) bump() {
	s.deleting.Lock()
	s.epoch.Add(1)
	s.deleting.Unlock()
}

// Len and Bytes are the memory tier's; the disks report their own.
func (s *Store) Len() int     { return s.mem.Len() }
func (s *Store) Bytes() int64 { return s.mem.Bytes() }

// Flush waits until every disk has applied what was queued before it.
func (s *Store) Flush() {
	for _, q := range s.disks {
		op := diskOp{flush: make(chan struct{})}
		q.ops <- op
		<-op.flush
	}
}

// Close applies what is queued and stops the disk writers. The disks
// themselves are the caller's to close.
func (s *Store) Close() {
	for _, q := range s.disks {
		close(q.ops)
		<-q.done
	}
}

// Stats reports hits per tier.
func (s *Store) Stats() Stats {
	return Stats{
		MemoryHits: s.memHits.Load(), DiskHits: s.diskHits.Load(), Misses: s.misses.Load(),
		Promotions: s.promotions.Load(), DiskQueueDrops: s.drops.Load(),
	}
}

// DiskFor returns the disk tier that holds key, or nil with no disks: the
// edge writes bodies too large for memory to it directly.
func (s *Store) DiskFor(key string) Disk {
	if q := s.diskFor(key); q != nil {
		return q.disk
	}
	return nil
}
