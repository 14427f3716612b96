package disk

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/terncdn/tern/cache"
)

// ErrNotAdmitted is returned by PutSlice when the admission policy
// declines a new object.
var ErrNotAdmitted = errors.New("not admitted to the disk store")

var _ cache.SliceStore = (*Store)(nil)

// SliceSize is the size of the slices bodies are stored and checked in.
func (s *Store) SliceSize() int64 { return s.opts.SliceSize }

// maxPartial is how much of the store one partial object may take: a
// viewer reading a huge object slice by slice must not flush the hot set,
// as a scan must not (the slices after the first skip Admit). A whole
// object is bounded by Options.Size and admitted once.
func (s *Store) maxPartial() int64 { return s.opts.Size / 4 }

// PartialMax is the most one partial object may hold (cache.SliceStore).
func (s *Store) PartialMax() int64 { return s.maxPartial() }

// PutSlice stores slice i of a body of total bytes (see cache.SliceStore).
// The data is written to the object's data file (sparse until every slice
// is in) before the record that marks the slice present commits, so a
// crash at any point leaves either the slice or nothing. A new object is
// subject to Admit, as the first slice is the object's first store.
func (s *Store) PutSlice(key string, meta *cache.Object, total, i int64, body []byte) error {
	ss := s.opts.SliceSize
	n := (total + ss - 1) / ss
	if total <= 0 || i < 0 || i >= n {
		return fmt.Errorf("store slice %d of %q (%d bytes): no such slice", i, key, total)
	}
	if want := min(ss, total-i*ss); int64(len(body)) != want {
		return fmt.Errorf("store slice %d of %q: %d bytes, the slice has %d", i, key, len(body), want)
	}
	m := *meta
	m.Body, m.File = nil, nil
	h := hashKey(key)
	mu := &s.stripes[h%uint64(len(s.stripes))]
	mu.Lock()
	defer mu.Unlock()

	// The object key holds now, if it is this representation.
	var cur *record
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketObjects).Get(keyBytes(key))
		if v == nil {
			return nil
		}
		r, err := decodeRecord(bytes.Clone(v))
		if err == nil && r.bodyLen == total && r.sliceSize == ss && len(r.crcs) == int(n) &&
			r.obj.Status == m.Status && cache.SameRepresentation(r.obj.Header, m.Header) {
			cur = &r
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store slice %d of %q: %w", i, key, err)
	}
	id := uint64(0)
	var present []byte
	var crcs []uint32
	if cur != nil {
		id, present, crcs = cur.id, slices.Clone(cur.present), slices.Clone(cur.crcs)
	} else {
		present, crcs = make([]byte, (n+7)/8), make([]uint32, n)
	}
	if !hasBit(present, int(i)) && weightOf(&m, presentBytes(total, ss, int(n), present)+int64(len(body))) > s.maxPartial() {
		return fmt.Errorf("store slice %d of %q in %s: a partial object may take a quarter of the store: %w", i, key, s.opts.Path, errTooLarge)
	}
	if cur == nil {
		if !s.Admit(key) {
			return ErrNotAdmitted
		}
		id = s.nextID.Add(1) - 1
	}
	if !hasBit(present, int(i)) {
		if err := s.writeSlice(id, cur == nil, total, i*ss, body); err != nil {
			s.writeErrors.Add(1)
			if cur == nil {
				s.removeFile(id)
			}
			return fmt.Errorf("store slice %d of %q: %w", i, key, err)
		}
		present[i/8] |= 1 << (i % 8)
		crcs[i] = crc32.Checksum(body, crc32c)
	}
	rec := encodeRecord(nil, id, &m, total, time.Now(), ss, crcs, present)
	weight := recordWeight(rec)

	var old uint64
	err = s.update(func(tx *bolt.Tx) error {
		objects, ids := tx.Bucket(bucketObjects), tx.Bucket(bucketIDs)
		old = 0
		v := objects.Get(keyBytes(key))
		if cur != nil && (v == nil || recordID(v) != id) {
			// Evicted (or dropped) since it was read: eviction does not
			// take the key's lock. Its data file is gone or going.
			return errReplaced
		}
		if v != nil {
			old = recordID(v)
			if old != id {
				if err := ids.Delete(idKey(old)); err != nil {
					return err
				}
			}
		}
		if err := retag(tx, key, v, m.Tags); err != nil {
			return err
		}
		if err := objects.Put([]byte(key), rec); err != nil {
			return err
		}
		return ids.Put(idKey(id), []byte(key))
	})
	s.recs.changed(h) // a decoded copy of the record must not outlive it
	if err != nil && errors.Is(err, errReplaced) {
		return fmt.Errorf("store slice %d of %q: %w", i, key, err)
	}
	if err != nil {
		s.writeErrors.Add(1)
		if cur == nil {
			s.removeFile(id)
		}
		return fmt.Errorf("store slice %d of %q: commit to index: %w", i, key, err)
	}
	if old == id {
		old = 0 // the same object, one slice more
	}
	displaced := s.idx.put(h, id, weight, old)
	if old != 0 {
		s.removeFile(old)
	}
	if displaced != 0 {
		s.dropID(displaced)
	}
	s.evict()
	return nil
}

// writeSlice writes body at off in data file id, creating the file at its
// full length (sparse) when create is set.
func (s *Store) writeSlice(id uint64, create bool, total, off int64, body []byte) error {
	flags := os.O_WRONLY
	if create {
		if err := s.ensureDir(id); err != nil {
			return err
		}
		flags |= os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(s.dataPath(id), flags, 0o644)
	if err != nil {
		return err
	}
	if create {
		// The file has the body's length from the start, so that a reader
		// of a present slice never meets a short file.
		if err := f.Truncate(total); err != nil {
			f.Close()
			return err
		}
	}
	if _, err := f.WriteAt(body, off); err != nil {
		f.Close()
		return err
	}
	if s.opts.Fsync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		if create {
			if err := syncDir(filepath.Dir(s.dataPath(id))); err != nil {
				f.Close()
				return err
			}
		}
	}
	return f.Close()
}
