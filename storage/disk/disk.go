// Package disk is the persistent storage tier: a cache.Storage on one
// directory that survives restarts and crashes and never returns an object
// that was not completely written, nor serves one whose checksums fail.
//
// An object is a data file holding its body (data/ab/cd/<id>, written
// before it is committed) and a record in a bbolt index (key -> metadata,
// data file id and one CRC32C per fixed-size slice of the body). The index
// is the source of truth: an object exists once its record is committed.
// A data file with no record (a crash between the two) is removed by a
// sweep after Open; a record whose file is missing or short is dropped
// when it is first used. Eviction is CLOCK over the whole store, by bytes,
// with its state in memory only. Hits keep recent decoded records and
// open data files in bounded caches (records, openFiles) that a change of
// the record or removal of the file empties first.
package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/terncdn/tern/cache"
)

// Options configure a Store.
type Options struct {
	// Path is the directory the store keeps its index and data files in.
	// It is created if missing. One Store per directory: a second Open of
	// the same directory, from this process or another, fails with
	// ErrLocked.
	Path string
	// Size is how many bytes of objects (cache.Object.Size: body and
	// metadata) the store holds; it evicts beyond it.
	Size int64
	// SliceSize is the size of the slices bodies are stored and
	// checksummed in; 4 MiB when zero.
	SliceSize int64
	// Fsync makes every object durable (data file, its directory and the
	// index record are fsynced) before it counts as stored, so that it
	// survives power loss. Without it the store survives the process being
	// killed (SIGKILL) but a power loss may lose recent objects.
	Fsync bool
	// OpenFiles is how many idle data file descriptors the store keeps
	// open between hits, so that a hit does not open and close its file;
	// DefaultOpenFiles when zero, none when negative.
	OpenFiles int
	// Records is how many bytes of decoded index records the store keeps
	// in memory, so that a hit on a recent object reads no index page and
	// decodes nothing; DefaultRecords when zero, none when negative.
	Records int64
}

// DefaultRecords is Options.Records when it is zero: some 10,000 objects
// with a dozen header fields each.
const DefaultRecords = 8 << 20

// DefaultOpenFiles is Options.OpenFiles when it is zero.
const DefaultOpenFiles = 1024

// DefaultSliceSize is Options.SliceSize when it is zero.
const DefaultSliceSize = 4 << 20

// ErrLocked is returned by Open when another Store has the directory open.
var ErrLocked = errors.New("directory is in use by another store")

var (
	bucketObjects = []byte("objects") // key -> record
	bucketIDs     = []byte("ids")     // data file id (8 bytes, big endian) -> key
	bucketTags    = []byte("tags")    // distribution \0 tag \0 key -> empty: see tags.go
	bucketMeta    = []byte("meta")
	metaNextID    = []byte("next-id")
)

// idBlock is how many data file ids one Open reserves. Every id an earlier
// process used is below this process's first id, which is how the sweep
// tells an abandoned data file from one being written now.
const idBlock = 1 << 40

// Store is a persistent cache.Storage on one directory. It is safe for
// concurrent use.
type Store struct {
	opts   Options
	dir    string // opts.Path/data
	lock   *os.File
	db     *bolt.DB
	idx    *index
	files  *openFiles
	recs   *records
	admit  *admission
	idBase uint64
	nextID atomic.Uint64

	// stripes serialise the commit and index update of one key (by hash),
	// so that the index follows bbolt's order for that key; different
	// keys only meet in bbolt's own commit.
	stripes [256]sync.Mutex
	dirs    [1 << 16 / 64]atomic.Uint64 // data/ab/cd directories known to exist

	// writing is the bytes written by Writers not yet committed: they are
	// on the disk, so eviction makes room for them (see Writer.reserve).
	writing atomic.Int64

	hits, misses, evictions, checksumFailures atomic.Uint64
	admitted, rejected, writeErrors           atomic.Uint64

	closing   chan struct{}
	closeOnce sync.Once
	bg        sync.WaitGroup
	loaded    chan struct{} // closed when the index is loaded
	swept     chan struct{} // closed when the orphan sweep is done
}

var _ cache.Storage = (*Store)(nil)

// Open opens (or creates) the store in o.Path. It reads only the index's
// meta page, not the data files nor the records: the eviction state is
// loaded in the background while Get already serves, and data files left
// by a crash are swept after that.
func Open(o Options) (*Store, error) {
	if o.SliceSize <= 0 {
		o.SliceSize = DefaultSliceSize
	}
	if o.Size <= 0 {
		return nil, fmt.Errorf("open disk store %q: Size must be positive, got %d", o.Path, o.Size)
	}
	if o.OpenFiles == 0 {
		o.OpenFiles = DefaultOpenFiles
	}
	if o.Records == 0 {
		o.Records = DefaultRecords
	}
	s := &Store{opts: o, dir: filepath.Join(o.Path, "data"), closing: make(chan struct{}),
		loaded: make(chan struct{}), swept: make(chan struct{}), idx: newIndex(),
		files: newOpenFiles(o.OpenFiles), recs: newRecords(o.Records)}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("open disk store: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(o.Path, "LOCK"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open disk store: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("open disk store %q: %w (another tern process, or a second disk entry with the same path?)", o.Path, ErrLocked)
		}
		return nil, fmt.Errorf("open disk store %q: lock: %w", o.Path, err)
	}
	s.lock = lock
	s.db, err = bolt.Open(filepath.Join(o.Path, "index.db"), 0o644, &bolt.Options{
		Timeout:      time.Second,
		NoSync:       !o.Fsync,
		NoGrowSync:   !o.Fsync,
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("open disk store %q: index: %w", o.Path, err)
	}
	s.db.MaxBatchDelay = 2 * time.Millisecond
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketObjects, bucketIDs, bucketTags, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		s.idBase = 1
		if v := meta.Get(metaNextID); len(v) == 8 {
			s.idBase = binary.BigEndian.Uint64(v)
		}
		return meta.Put(metaNextID, binary.BigEndian.AppendUint64(nil, s.idBase+idBlock))
	})
	if err != nil {
		s.db.Close()
		lock.Close()
		return nil, fmt.Errorf("open disk store %q: index: %w", o.Path, err)
	}
	s.nextID.Store(s.idBase)
	s.admit = newAdmission(o.Size / (32 << 10))
	s.bg.Add(1)
	go s.background()
	return s, nil
}

// Close waits for the background load and sweep to stop, then closes the
// index and releases the directory. Calls after the first do nothing.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closing)
		s.bg.Wait()
		err = s.db.Close()
		s.files.closeAll()
		s.lock.Close() // releases the flock
		if err != nil {
			err = fmt.Errorf("close disk store %q: %w", s.opts.Path, err)
		}
	})
	return err
}

func hashKey(key string) uint64 { return xxhash.Sum64String(key) }

// keyBytes views key as bytes for bbolt lookups, which do not keep them.
func keyBytes(key string) []byte { return unsafe.Slice(unsafe.StringData(key), len(key)) }

func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), id) }

// dataPath is the data file of id: data/ab/cd/<id>, spread by a mix of the
// id so that consecutive ids land in different directories.
func (s *Store) dataPath(id uint64) string {
	d := dirOf(id)
	var b [64]byte
	p := append(b[:0], s.dir...)
	p = append(p, '/')
	p = appendHex2(p, byte(d>>8))
	p = append(p, '/')
	p = appendHex2(p, byte(d))
	p = append(p, '/')
	p = strconv.AppendUint(p, id, 16)
	return string(p)
}

func dirOf(id uint64) uint16 { return uint16((id * 0x9e3779b97f4a7c15) >> 48) }

func appendHex2(p []byte, b byte) []byte {
	const hex = "0123456789abcdef"
	return append(p, hex[b>>4], hex[b&15])
}

// ensureDir creates the directory of id's data file, once per process.
func (s *Store) ensureDir(id uint64) error {
	d := dirOf(id)
	w, bit := &s.dirs[d/64], uint64(1)<<(d%64)
	if w.Load()&bit != 0 {
		return nil
	}
	top := filepath.Join(s.dir, string(appendHex2(nil, byte(d>>8))))
	for _, p := range []string{top, filepath.Join(top, string(appendHex2(nil, byte(d))))} {
		err := os.Mkdir(p, 0o755)
		if err == nil && s.opts.Fsync {
			err = syncDir(filepath.Dir(p)) // the new entry survives power loss
		}
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	for {
		old := w.Load()
		if w.CompareAndSwap(old, old|bit) {
			return nil
		}
	}
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	err = d.Sync()
	d.Close()
	return err
}

// update runs fn in a write transaction: batched with other writers when
// commits fsync (one fsync for many objects), on its own otherwise, where
// a commit is a few writes to the page cache and batching would only add
// its delay. fn may run more than once.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	if s.opts.Fsync {
		return s.db.Batch(fn)
	}
	return s.db.Update(fn)
}

// Get returns the object stored under key with its body in File (nil for
// an empty body or a marker). key is not retained.
func (s *Store) Get(key string) (*cache.Object, bool) {
	h := hashKey(key)
	if obj := s.recs.get(h, key); obj != nil {
		s.idx.touch(h)
		s.hits.Add(1)
		return obj, true
	}
	seq := s.recs.seq(h)
	var buf []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketObjects).Get(keyBytes(key)); v != nil {
			buf = bytes.Clone(v) // v is valid only inside the transaction
		}
		return nil
	})
	if err != nil || buf == nil {
		s.misses.Add(1)
		return nil, false
	}
	r, err := decodeRecord(buf)
	if err != nil {
		slog.Warn("disk store: dropping unreadable record", "path", s.opts.Path, "err", err)
		s.dropID(recordID(buf))
		s.misses.Add(1)
		return nil, false
	}
	s.idx.touch(h)
	s.hits.Add(1)
	obj := new(cache.Object)
	*obj = r.obj
	if r.bodyLen > 0 {
		obj.File = &fileBody{s: s, hash: h, id: r.id, n: r.bodyLen, sliceSize: r.sliceSize, present: r.present, crcs: r.crcs,
			complete: allBits(r.present, len(r.crcs))}
	}
	s.recs.put(h, key, obj, len(buf), seq)
	return obj, true
}

// Set stores obj under key, replacing what was there, and returns when it
// is committed (durably so with Options.Fsync). An object that cannot be
// stored (larger than Options.Size, or an I/O error, counted in
// Stats.WriteErrors) removes what was stored under key instead, so the
// store never goes on serving the response obj was meant to replace.
//
// Set does not consult Admit: the caller asks Admit first.
func (s *Store) Set(key string, obj *cache.Object) {
	if obj == nil {
		s.Delete(key)
		return
	}
	if fb, ok := obj.File.(*fileBody); ok && fb.s == s {
		// The same body with new metadata (a revalidation, RFC 9111
		// §4.3.4): rewrite the record over the same data file.
		switch err := s.recommit(key, fb, obj); {
		case errors.Is(err, errReplaced):
			// A newer body is stored: it stays.
		case err != nil:
			s.writeErrors.Add(1)
			slog.Warn("disk store: metadata update failed", "path", s.opts.Path, "err", err)
			s.Delete(key)
		}
		return
	}
	if obj.File != nil {
		// A body held by another tier's file is not copied here: the
		// streaming Writer is for that.
		s.Delete(key)
		return
	}
	w, err := s.Create(key, obj, int64(len(obj.Body)))
	if err == nil {
		_, err = w.Write(obj.Body)
		if err == nil {
			err = w.Commit()
		} else {
			w.Abort()
		}
	}
	if err != nil {
		if !errors.Is(err, errTooLarge) {
			s.writeErrors.Add(1)
			slog.Warn("disk store: set failed", "path", s.opts.Path, "err", err)
		}
		s.Delete(key)
	}
}

// errReplaced: the key no longer holds the body a metadata update was for.
var errReplaced = errors.New("object replaced meanwhile")

// recommit rewrites key's record with obj's metadata, keeping the data
// file and slice checksums of fb, if key still holds fb's file.
func (s *Store) recommit(key string, fb *fileBody, obj *cache.Object) error {
	rec := encodeRecord(nil, fb.id, obj, fb.n, time.Now(), fb.sliceSize, fb.crcs, fb.present)
	h := hashKey(key)
	mu := &s.stripes[h%uint64(len(s.stripes))]
	mu.Lock()
	defer mu.Unlock()
	err := s.update(func(tx *bolt.Tx) error {
		objects := tx.Bucket(bucketObjects)
		v := objects.Get(keyBytes(key))
		if v == nil || recordID(v) != fb.id {
			return errReplaced
		}
		if fb.present != nil && !fb.complete {
			// A partial object may have gained slices since fb was read:
			// keep the ones the record holds now.
			cur, err := decodeRecord(bytes.Clone(v))
			if err != nil {
				return err
			}
			rec = encodeRecord(nil, fb.id, obj, fb.n, time.Now(), cur.sliceSize, cur.crcs, cur.present)
		}
		if err := retag(tx, key, v, obj.Tags); err != nil {
			return err
		}
		return objects.Put([]byte(key), rec)
	})
	s.recs.changed(h)
	return err
}

// commit makes the record rec for data file id visible under key, then
// evicts beyond Options.Size. It is the only way an object enters the
// store.
func (s *Store) commit(key string, id uint64, weight int64, rec []byte, tags []string) error {
	h := hashKey(key)
	mu := &s.stripes[h%uint64(len(s.stripes))]
	mu.Lock()
	var old uint64
	err := s.update(func(tx *bolt.Tx) error {
		objects, ids := tx.Bucket(bucketObjects), tx.Bucket(bucketIDs)
		old = 0
		v := objects.Get(keyBytes(key))
		if v != nil {
			old = recordID(v)
			if err := ids.Delete(idKey(old)); err != nil {
				return err
			}
		}
		if err := retag(tx, key, v, tags); err != nil {
			return err
		}
		if err := objects.Put([]byte(key), rec); err != nil {
			return err
		}
		return ids.Put(idKey(id), []byte(key))
	})
	s.recs.changed(h)
	if err != nil {
		mu.Unlock()
		return fmt.Errorf("commit %q to index: %w", key, err)
	}
	displaced := s.idx.put(h, id, weight, old)
	mu.Unlock()

	if old != 0 {
		s.removeFile(old)
	}
	if displaced != 0 {
		s.dropID(displaced)
	}
	s.evict()
	return nil
}

// evict removes objects by CLOCK until the store holds at most
// Options.Size bytes, counting those of downloads being written.
func (s *Store) evict() {
	victims := s.idx.evict(max(s.opts.Size-s.writing.Load(), 0), nil)
	if len(victims) == 0 {
		return
	}
	s.evictions.Add(uint64(len(victims)))
	ids := make([]uint64, len(victims))
	for i, v := range victims {
		ids[i] = v.id
	}
	s.dropIDs(ids)
}

// dropID removes the record and data file of id, if id is still what its
// key names.
func (s *Store) dropID(id uint64) { s.dropIDs([]uint64{id}) }

func (s *Store) dropIDs(idList []uint64) {
	type dropped struct {
		key string
		id  uint64
	}
	var gone []dropped
	err := s.update(func(tx *bolt.Tx) error {
		objects, ids := tx.Bucket(bucketObjects), tx.Bucket(bucketIDs)
		gone = gone[:0]
		for _, id := range idList {
			k := ids.Get(idKey(id))
			if k == nil {
				continue // replaced or removed meanwhile
			}
			if v := objects.Get(k); v != nil && recordID(v) == id {
				if err := retag(tx, string(k), v, nil); err != nil {
					return err
				}
				if err := objects.Delete(k); err != nil {
					return err
				}
			}
			gone = append(gone, dropped{string(k), id})
			if err := ids.Delete(idKey(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.writeErrors.Add(1)
		slog.Warn("disk store: drop from index failed", "path", s.opts.Path, "err", err)
		return
	}
	for _, g := range gone {
		h := hashKey(g.key)
		s.recs.changed(h)
		s.idx.remove(h, g.id)
	}
	for _, id := range idList {
		s.removeFile(id)
	}
}

// removeFile removes the data file of id, which the index no longer
// holds, and closes its idle descriptors (see openFiles.giveBack).
func (s *Store) removeFile(id uint64) {
	s.files.drop(id)
	if err := os.Remove(s.dataPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		slog.Warn("disk store: remove data file", "path", s.opts.Path, "err", err)
	}
}

// Delete removes key and reports whether it was present.
func (s *Store) Delete(key string) bool { return s.deleteIf(key, "") }

// deleteIf removes key if its record carries tag (any record, for an empty
// tag), and reports whether it did.
func (s *Store) deleteIf(key, tag string) bool {
	h := hashKey(key)
	mu := &s.stripes[h%uint64(len(s.stripes))]
	mu.Lock()
	if s.isLoaded() && !s.idx.has(h) {
		// Not stored (commits update the index under this lock): no
		// write transaction for nothing.
		mu.Unlock()
		return false
	}
	var old uint64
	err := s.update(func(tx *bolt.Tx) error {
		objects := tx.Bucket(bucketObjects)
		old = 0
		v := objects.Get(keyBytes(key))
		if v == nil {
			return nil
		}
		if tag != "" && !slices.Contains(recordTags(v), tag) {
			return nil // replaced meanwhile by an object without the tag
		}
		old = recordID(v)
		if err := retag(tx, key, v, nil); err != nil {
			return err
		}
		if err := objects.Delete(keyBytes(key)); err != nil {
			return err
		}
		return tx.Bucket(bucketIDs).Delete(idKey(old))
	})
	s.recs.changed(h)
	if err == nil && old != 0 {
		s.idx.remove(h, old)
	}
	mu.Unlock()
	if err != nil {
		s.writeErrors.Add(1)
		slog.Warn("disk store: delete failed", "path", s.opts.Path, "key", key, "err", err)
		return false
	}
	if old == 0 {
		return false
	}
	s.removeFile(old)
	return true
}

// walkChunk is how many records one read transaction of Walk and
// DeletePrefix visits, so that no read transaction stays open long.
const walkChunk = 1024

// scan calls fn for each record whose key starts with prefix, in key
// order, a chunk per read transaction; fn's arguments are valid only
// during the call.
func (s *Store) scan(prefix string, fn func(k, v []byte) bool) {
	seek := []byte(prefix)
	skipFirst := false
	for {
		more := false
		var last []byte
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketObjects).Cursor()
			k, v := c.Seek(seek)
			if skipFirst && k != nil && bytes.Equal(k, seek) {
				k, v = c.Next()
			}
			for n := 0; k != nil && bytes.HasPrefix(k, []byte(prefix)); k, v = c.Next() {
				if n == walkChunk {
					more = true
					return nil
				}
				n++
				last = k
				if !fn(k, v) {
					return nil
				}
			}
			return nil
		})
		if err != nil || !more {
			return
		}
		seek, skipFirst = bytes.Clone(last), true
	}
}

// DeletePrefix removes every key that starts with prefix and returns how
// many were removed. It visits only the matching keys (the index is in key
// order).
func (s *Store) DeletePrefix(prefix string) int {
	var keys []string
	s.scan(prefix, func(k, _ []byte) bool {
		keys = append(keys, string(k))
		return true
	})
	n := 0
	for _, k := range keys {
		if s.Delete(k) {
			n++
		}
	}
	return n
}

// Len reports the number of objects held. While the index is loading
// after Open it counts those loaded so far.
func (s *Store) Len() int {
	n, _ := s.idx.stats()
	return n
}

// Bytes reports the total Size of the objects held (see Len while
// loading).
func (s *Store) Bytes() int64 {
	_, b := s.idx.stats()
	return b
}

// Admit records one request for key and reports whether an object for it
// should be stored: always while the store has room, and once it is full
// only when key has been requested recently more often than the object it
// would evict (TinyLFU, see admission).
func (s *Store) Admit(key string) bool {
	victim, full := s.idx.nextVictim(max(s.opts.Size-s.writing.Load(), 0))
	ok := s.admit.admit(hashKey(key), victim, full)
	if ok {
		s.admitted.Add(1)
	} else {
		s.rejected.Add(1)
	}
	return ok
}

// Stats are a store's counters, for metrics.
type Stats struct {
	Objects          int
	Bytes, Capacity  int64
	Hits, Misses     uint64
	Evictions        uint64
	ChecksumFailures uint64
	// Admitted and Rejected count Admit's answers.
	Admitted, Rejected uint64
	// WriteErrors counts objects that could not be stored or removed
	// because of an I/O error.
	WriteErrors uint64
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	n, b := s.idx.stats()
	return Stats{
		Objects: n, Bytes: b, Capacity: s.opts.Size,
		Hits: s.hits.Load(), Misses: s.misses.Load(), Evictions: s.evictions.Load(),
		ChecksumFailures: s.checksumFailures.Load(),
		Admitted:         s.admitted.Load(), Rejected: s.rejected.Load(), WriteErrors: s.writeErrors.Load(),
	}
}

// Info describes one stored object.
type Info struct {
	Key string
	// Size is the body's length in bytes.
	Size   int64
	Status int
	Stored time.Time
	// LastAccess is the last Get in this process, or Stored when there was
	// none: access times are kept in memory only.
	LastAccess time.Time
	// Slices is how many slices the body has; Present how many are stored
	// (fewer for a partial object, fetched slice by slice for ranges).
	Slices, Present int
	// Vary is set for a vary marker (the key's responses vary).
	Vary bool
}

// Walk calls fn with each object whose key starts with prefix, in key
// order, until fn returns false. Objects stored or removed during the walk
// may or may not be seen. fn runs inside a read transaction of the index:
// it may Get, but must not Set, Delete or Verify (collect the keys and act
// after Walk returns).
func (s *Store) Walk(prefix string, fn func(Info) bool) {
	s.scan(prefix, func(k, v []byte) bool {
		r, err := decodeRecord(v)
		if err != nil {
			return true
		}
		key := string(k)
		info := Info{Key: key, Size: r.bodyLen, Status: r.obj.Status, Stored: r.stored,
			LastAccess: s.idx.lastAccess(hashKey(key)), Slices: len(r.crcs), Vary: r.obj.Vary != nil}
		for i := range r.crcs {
			if hasBit(r.present, i) {
				info.Present++
			}
		}
		if info.LastAccess.Before(info.Stored) {
			info.LastAccess = info.Stored
		}
		return fn(info)
	})
}

// background loads the eviction state from the index, then sweeps data
// files that no record names.
func (s *Store) background() {
	defer s.bg.Done()
	s.load()
	close(s.loaded)
	s.sweep()
	close(s.swept)
}

// isLoaded reports whether the eviction index holds every record.
func (s *Store) isLoaded() bool {
	select {
	case <-s.loaded:
		return true
	default:
		return false
	}
}

func (s *Store) stopping() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// load fills the index from the records, a chunk per read transaction and
// a chunk per lock hold, so that Get, Set and Delete go on meanwhile.
func (s *Store) load() {
	defer s.idx.loaded()
	type entry struct {
		hash, id uint64
		weight   int64
	}
	batch := make([]entry, 0, walkChunk)
	s.scan("", func(k, v []byte) bool {
		if s.stopping() {
			return false
		}
		batch = append(batch, entry{hashKey(unsafe.String(&k[0], len(k))), recordID(v), recordWeight(v)})
		if len(batch) == cap(batch) {
			s.idx.mu.Lock()
			for _, e := range batch {
				s.idx.load(e.hash, e.id, e.weight, 0)
			}
			s.idx.mu.Unlock()
			batch = batch[:0]
		}
		return true
	})
	s.idx.mu.Lock()
	for _, e := range batch {
		s.idx.load(e.hash, e.id, e.weight, 0)
	}
	s.idx.mu.Unlock()
	s.evict() // Options.Size may have shrunk since the last run
}

// sweep removes data files that no record names: written by an earlier
// process that stopped before committing them. Files of this process's
// ids are never touched (their writers own them).
func (s *Store) sweep() {
	var orphans []uint64
	flush := func() {
		if len(orphans) == 0 {
			return
		}
		_ = s.db.View(func(tx *bolt.Tx) error {
			ids := tx.Bucket(bucketIDs)
			for _, id := range orphans {
				if ids.Get(idKey(id)) == nil {
					// No record can name an id below idBase from now on.
					s.removeFile(id)
				}
			}
			return nil
		})
		orphans = orphans[:0]
	}
	_ = filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if s.stopping() {
			return filepath.SkipAll
		}
		if err != nil || d.IsDir() {
			return nil
		}
		id, perr := strconv.ParseUint(d.Name(), 16, 64)
		if perr != nil || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		if id < s.idBase {
			orphans = append(orphans, id)
			if len(orphans) == walkChunk {
				flush()
			}
		}
		return nil
	})
	flush()
}

// crc32c is the Castagnoli table (hardware accelerated on amd64 and arm64).
var crc32c = crc32.MakeTable(crc32.Castagnoli)
