// Package tiered puts the memory tier over disk tiers: a hit in memory is
// served from memory, a hit on disk is served from the file (and small
// objects are promoted to memory), and what is stored goes to memory at once
// and to disk behind the request, never reordered with invalidations.
package tiered

import (
	"errors"
	"hash/maphash"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// Stream starts storing a body straight to this disk as it arrives.
	Stream(key string, obj *cache.Object, size int64) (cache.BodyWriter, error)
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

	// epoch counts changes (deletes, stores): a promotion of what was read
	// from disk before a change must not put it in memory after it.
	epoch    atomic.Uint64
	deleting sync.RWMutex

	// closeMu guards sends on the disk queues against Close: fills that
	// outlive the servers (background refreshes) may still store.
	closeMu sync.RWMutex
	closed  bool

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
	seq      uint64 // numbers the pending ops; q.mu
}

type diskOp struct {
	key    string
	prefix bool   // every key starting with key
	tag    string // every object of distribution key carrying tag
	obj    *cache.Object
	del    bool
	expire bool          // a soft purge: mark stale as of now, keep
	now    time.Time     // of expire
	flush  chan struct{} // Flush: closed when reached
	seq    uint64        // of a pending op
}

func (q *diskQueue) run() {
	defer close(q.done)
	for op := range q.ops {
		switch {
		case op.flush != nil:
			close(op.flush)
		case op.del && op.tag != "":
			q.disk.DeleteTag(op.key, op.tag)
			q.applied(&op)
		case op.expire && op.tag != "":
			q.disk.ExpireTag(op.key, op.tag, op.now)
			q.applied(&op)
		case op.expire:
			q.disk.ExpirePrefix(op.key, op.now)
			q.applied(&op)
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
		if p.seq == op.seq {
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
		if p.del && p.tag == "" && (p.key == key || p.prefix && strings.HasPrefix(key, p.key)) {
			return true
		}
	}
	return false
}

// view is what Get returns for obj, read from the disk under key, while
// purges by tag and soft purges are pending for the disk: nothing, if a
// delete by tag covers it, or the object stale, if a soft purge does.
func (q *diskQueue) view(key string, obj *cache.Object) (*cache.Object, bool) {
	if q.npending.Load() == 0 {
		return obj, true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, p := range q.pending {
		covers := p.tag != "" && p.key == cache.DistributionOf(key) && obj.HasTag(p.tag) ||
			p.tag == "" && p.expire && strings.HasPrefix(key, p.key)
		switch {
		case !covers:
		case p.del:
			return nil, false
		case p.expire:
			if exp := cache.Expired(obj, p.now); exp != nil {
				obj = exp
			}
		}
	}
	return obj, true
}

// register records op as pending, as registerDelete does, and returns it
// numbered.
func (q *diskQueue) register(op diskOp) *diskOp {
	q.mu.Lock()
	q.seq++
	op.seq = q.seq
	q.pending = append(q.pending, &op)
	q.npending.Store(int32(len(q.pending)))
	q.mu.Unlock()
	return &op
}

// registerDelete records a delete as pending, before anything else of it
// happens: from then on Get treats the keys it covers as missing on this
// disk, so no promotion can read what the delete is about to remove.
func (q *diskQueue) registerDelete(key string, prefix bool) *diskOp {
	return q.register(diskOp{key: key, prefix: prefix, del: true})
}

// send queues op for the disk, waiting for room rather than drop a delete
// (a lost invalidation would serve what was purged). After Close it drops
// op: the disk is closed, and what it held is what it keeps.
func (s *Store) send(q *diskQueue, op diskOp) bool {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return false
	}
	q.ops <- op
	return true
}

// trySend queues op unless the disk is behind or closed.
func (s *Store) trySend(q *diskQueue, op diskOp) bool {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return false
	}
	select {
	case q.ops <- op:
		return true
	default:
		return false
	}
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
	if ok {
		obj, ok = q.view(key, obj)
	}
	if !ok {
		s.misses.Add(1)
		return nil, false
	}
	s.diskHits.Add(1)
	if obj.File != nil && obj.File.Len() <= s.o.PromoteMax && cache.Partial(obj) == nil {
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
	f, off, err := openBody(obj.File)
	if err != nil {
		return nil, err
	}
	defer closeBody(obj.File, f)
	body := make([]byte, n)
	if _, err := f.ReadAt(body, off); err != nil && !(errors.Is(err, io.EOF) && int64(len(body)) == n) {
		return nil, err
	}
	mem := *obj
	mem.File, mem.Body = nil, body
	return &mem, nil
}

// openBody opens a body's file: borrowed, when its tier keeps files open.
func openBody(fb cache.FileBody) (*os.File, int64, error) {
	if sf, ok := fb.(cache.SharedFileBody); ok {
		return sf.Borrow()
	}
	return fb.Open()
}

// closeBody is Close for what openBody returned.
func closeBody(fb cache.FileBody, f *os.File) {
	if sf, ok := fb.(cache.SharedFileBody); ok {
		sf.Return(f)
		return
	}
	f.Close()
}

// Set stores obj in memory now and, if its disk admits it, on disk behind
// the request. A hit-for-pass marker (Status 0) stays in memory and removes
// what the disk held for the key.
func (s *Store) Set(key string, obj *cache.Object) {
	q := s.diskFor(key)
	if q == nil {
		s.mem.Set(key, obj)
		return
	}
	if obj.Status == 0 && obj.Vary == nil {
		op := q.registerDelete(key, false)
		s.bump()
		s.mem.Set(key, obj)
		s.send(q, *op)
		return
	}
	s.bump() // a promotion of an older version read before this must not land
	s.mem.Set(key, obj)
	// An object whose body is already in a file (a disk object refreshed by
	// a 304) goes back to its disk with its new metadata; others are
	// written if the disk admits them.
	if obj.File == nil && (obj.BodyLen() > s.o.DiskMax || !q.disk.Admit(key)) {
		s.dropOlder(q, key)
		return
	}
	if !s.trySend(q, diskOp{key: key, obj: obj}) {
		s.drops.Add(1) // the disk is behind (or closed): memory still has it
		s.dropOlder(q, key)
	}
}

// dropOlder removes from q's disk what it holds for key, whose newer
// version the disk did not take: the older one must not be served once
// memory lets the newer one go. Get treats the key as missing on the disk
// at once; the delete waits for room in the queue if the disk is behind.
func (s *Store) dropOlder(q *diskQueue, key string) {
	op := q.registerDelete(key, false)
	s.send(q, *op)
}

// Delete removes key from every tier; on disk in order with the writes
// queued before it.
func (s *Store) Delete(key string) bool {
	q := s.diskFor(key)
	var op *diskOp
	if q != nil {
		op = q.registerDelete(key, false)
	}
	s.bump()
	ok := s.mem.Delete(key)
	if q != nil {
		s.send(q, *op)
	}
	return ok
}

// DeletePrefix removes every key with prefix from every tier. It returns
// how many the memory tier held; the disks catch up behind, while Get
// already treats their keys as missing.
func (s *Store) DeletePrefix(prefix string) int {
	ops := make([]*diskOp, len(s.disks))
	for i, q := range s.disks {
		ops[i] = q.registerDelete(prefix, true)
	}
	s.bump()
	n := s.mem.DeletePrefix(prefix)
	for i, q := range s.disks {
		s.send(q, *ops[i])
	}
	return n
}

// DeleteTag removes every object of distribution carrying tag from every
// tier, as DeletePrefix does. It returns how many the memory tier held.
func (s *Store) DeleteTag(distribution, tag string) int {
	return s.purge(diskOp{key: distribution, tag: tag, del: true}, func() int {
		return s.mem.DeleteTag(distribution, tag)
	})
}

// ExpirePrefix marks every object under prefix stale as of now in every
// tier (a soft purge): the disks catch up behind, while Get already
// returns their objects stale. It returns how many the memory tier marked.
func (s *Store) ExpirePrefix(prefix string, now time.Time) int {
	return s.purge(diskOp{key: prefix, prefix: true, expire: true, now: now}, func() int {
		return s.mem.ExpirePrefix(prefix, now)
	})
}

// ExpireTag is ExpirePrefix for the objects of distribution carrying tag.
func (s *Store) ExpireTag(distribution, tag string, now time.Time) int {
	return s.purge(diskOp{key: distribution, tag: tag, expire: true, now: now}, func() int {
		return s.mem.ExpireTag(distribution, tag, now)
	})
}

// purge applies op to every disk, behind the request but in effect for
// Get at once (pending), and mem to the memory tier, in DeletePrefix's
// order: pending first, then the memory tier, then the disk queues.
func (s *Store) purge(op diskOp, mem func() int) int {
	ops := make([]*diskOp, len(s.disks))
	for i, q := range s.disks {
		ops[i] = q.register(op)
	}
	s.bump()
	n := mem()
	for i, q := range s.disks {
		s.send(q, *ops[i])
	}
	return n
}

// bump starts a change (a delete or a store): promotions that began before
// it are dropped. The write lock waits for a promotion in progress, which
// then lands before the change.
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
		s.flush(q)
	}
}

func (s *Store) flush(q *diskQueue) {
	op := diskOp{flush: make(chan struct{})}
	if s.send(q, op) {
		<-op.flush
	}
}

// Replace runs commit, which makes a body written straight to key's disk
// visible (a large object streamed there), after every write and delete
// queued for that disk before it, and then drops what memory holds for key
// and any promotion in flight, so an older version cannot shadow it.
func (s *Store) Replace(key string, commit func() error) error {
	q := s.diskFor(key)
	if q == nil {
		return commit()
	}
	s.flush(q)
	if err := commit(); err != nil {
		return err
	}
	s.bump()
	s.mem.Delete(key)
	return nil
}

// ErrNotAdmitted: the key's disk declined a body (admission policy, size).
var ErrNotAdmitted = errors.New("not admitted to the disk tier")

// Create makes the Store a cache.BodyStore: a body too large for memory is
// written straight to its key's disk, if that disk admits it, and committed
// with Replace, in order with what is queued for the disk.
func (s *Store) Create(key string, obj *cache.Object, size int64) (cache.BodyWriter, error) {
	q := s.diskFor(key)
	if q == nil || size > s.o.DiskMax || !q.disk.Admit(key) {
		return nil, ErrNotAdmitted
	}
	w, err := q.disk.Stream(key, obj, size)
	if err != nil {
		return nil, err
	}
	return &bodyWriter{BodyWriter: w, s: s, key: key}, nil
}

// bodyWriter commits through Replace. It keeps the disk writer's Path, for
// viewers who follow the file as it fills.
type bodyWriter struct {
	cache.BodyWriter
	s   *Store
	key string
}

func (w *bodyWriter) Commit() error { return w.s.Replace(w.key, w.BodyWriter.Commit) }

// Path is the data file the disk writes the body to, if it says.
func (w *bodyWriter) Path() string {
	if p, ok := w.BodyWriter.(interface{ Path() string }); ok {
		return p.Path()
	}
	return ""
}

// Close applies what is queued and stops the disk writers; later stores
// reach memory only. The disks themselves are the caller's to close.
func (s *Store) Close() {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return
	}
	s.closed = true
	for _, q := range s.disks {
		close(q.ops)
	}
	s.closeMu.Unlock()
	for _, q := range s.disks {
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

// SliceSize is the slice size of the disks (cache.SliceStore), or 0 when
// no disk stores slices.
func (s *Store) SliceSize() int64 {
	for _, q := range s.disks {
		if sd, ok := q.disk.(cache.SliceStore); ok {
			return sd.SliceSize()
		}
	}
	return 0
}

// PartialMax is the least of the disks' PartialMax (cache.SliceStore).
func (s *Store) PartialMax() int64 {
	m := int64(0)
	for _, q := range s.disks {
		if sd, ok := q.disk.(cache.SliceStore); ok && (m == 0 || sd.PartialMax() < m) {
			m = sd.PartialMax()
		}
	}
	return m
}

// PutSlice stores a slice of a large object on its key's disk, in order
// with what is queued for that disk, and drops what memory holds for the
// key (see cache.SliceStore and Replace).
func (s *Store) PutSlice(key string, meta *cache.Object, total, i int64, body []byte) error {
	q := s.diskFor(key)
	if q == nil {
		return ErrNotAdmitted
	}
	sd, ok := q.disk.(cache.SliceStore)
	if !ok {
		return ErrNotAdmitted
	}
	return s.Replace(key, func() error { return sd.PutSlice(key, meta, total, i, body) })
}
