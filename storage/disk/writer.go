package disk

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"time"

	"github.com/terncdn/tern/cache"
)

var errTooLarge = errors.New("object larger than the store")

// Writer streams one object's body into the store. Nothing of it is
// visible until Commit returns nil; Abort (or a failed Commit) leaves no
// trace. A Writer is used by one goroutine.
type Writer struct {
	s      *Store
	key    string
	meta   *cache.Object
	id     uint64
	size   int64 // announced length, -1 when unknown
	f      *os.File
	n      int64 // bytes written
	crcs   []uint32
	crc    uint32 // of the slice being written
	head   int64  // weight of meta without a body
	err    error
	closed bool
	// reserved is what this writer counts in Store.writing: the bytes it
	// has written, which take room on the disk before they commit.
	reserved int64
}

// Create starts storing an object under key with meta's metadata (meta's
// Body is ignored) and a body of size bytes, or of unknown length when
// size is -1. The object replaces what key holds when Commit succeeds.
func (s *Store) Create(key string, meta *cache.Object, size int64) (*Writer, error) {
	head := weightOf(meta, 0)
	if size >= 0 && head+size > s.opts.Size {
		return nil, fmt.Errorf("store %q in %s: %d bytes: %w", key, s.opts.Path, head+size, errTooLarge)
	}
	m := *meta
	m.Body, m.File = nil, nil
	w := &Writer{s: s, key: key, meta: &m, id: s.nextID.Add(1) - 1, size: size, head: head}
	if size > 0 {
		w.crcs = make([]uint32, 0, (size+s.opts.SliceSize-1)/s.opts.SliceSize)
	}
	return w, nil
}

// Path is the data file the body is written to, from its first byte on.
// Bytes Write has returned for can be read from it at once (by a viewer
// who joins a download in progress); the file is complete at Commit, and
// removed by Abort.
func (w *Writer) Path() string { return w.s.dataPath(w.id) }

// Stream is Create as a cache.BodyStore sees it.
func (s *Store) Stream(key string, meta *cache.Object, size int64) (cache.BodyWriter, error) {
	w, err := s.Create(key, meta, size)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// open creates the data file on the first byte of body: empty bodies and
// markers have no file.
func (w *Writer) open() error {
	if err := w.s.ensureDir(w.id); err != nil {
		return err
	}
	f, err := os.OpenFile(w.s.dataPath(w.id), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	w.f = f
	return nil
}

// Write appends p to the body, checksumming it slice by slice.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("write to a committed or aborted disk store writer")
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := w.n + int64(len(p))
	if w.size >= 0 && n > w.size {
		return 0, w.fail(fmt.Errorf("store %q: body longer than the announced %d bytes", w.key, w.size))
	}
	if w.head+n > w.s.opts.Size {
		return 0, w.fail(fmt.Errorf("store %q in %s: %w", w.key, w.s.opts.Path, errTooLarge))
	}
	if w.f == nil {
		if err := w.open(); err != nil {
			return 0, w.fail(fmt.Errorf("store %q: create data file: %w", w.key, err))
		}
	}
	written, err := w.f.Write(p)
	before := w.n
	w.checksum(p[:written])
	w.reserve(int64(written))
	if err != nil {
		return written, w.fail(fmt.Errorf("store %q: write data file: %w", w.key, err))
	}
	if ss := w.s.opts.SliceSize; before/ss != w.n/ss {
		// A slice more on disk: make room for it now, not at commit, so
		// that large downloads in progress never take the store past its
		// size.
		w.s.evict()
	}
	return written, nil
}

// reserve counts n more bytes of this writer against the store's size
// (n < 0 gives them back).
func (w *Writer) reserve(n int64) {
	w.reserved += n
	w.s.writing.Add(n)
}

// checksum folds p, the next bytes of the body, into the slice CRCs.
func (w *Writer) checksum(p []byte) {
	ss := w.s.opts.SliceSize
	for len(p) > 0 {
		room := ss - w.n%ss
		chunk := p[:min(int64(len(p)), room)]
		w.crc = crc32.Update(w.crc, crc32c, chunk)
		w.n += int64(len(chunk))
		p = p[len(chunk):]
		if w.n%ss == 0 {
			w.crcs = append(w.crcs, w.crc)
			w.crc = 0
		}
	}
}

func (w *Writer) fail(err error) error {
	w.err = err
	w.Abort()
	return err
}

// Commit makes the object visible to Get, atomically: the data file is
// complete (and with Options.Fsync, durable) before the index record that
// names it is committed.
func (w *Writer) Commit() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("commit of a committed or aborted disk store writer")
	}
	if w.size >= 0 && w.n != w.size {
		return w.fail(fmt.Errorf("store %q: body is %d bytes, announced %d", w.key, w.n, w.size))
	}
	if w.n%w.s.opts.SliceSize != 0 {
		w.crcs = append(w.crcs, w.crc)
	}
	if w.f != nil {
		var err error
		if w.s.opts.Fsync {
			if err = w.f.Sync(); err == nil {
				err = syncDir(filepath.Dir(w.s.dataPath(w.id)))
			}
		}
		if cerr := w.f.Close(); err == nil {
			err = cerr
		}
		w.f = nil
		if err != nil {
			w.s.removeFile(w.id) // Abort no longer sees the file: it is closed
			w.s.writeErrors.Add(1)
			return w.fail(fmt.Errorf("store %q: flush data file: %w", w.key, err))
		}
	}
	w.closed = true
	w.reserve(-w.reserved) // from now on the index counts the body
	rec := encodeRecord(nil, w.id, w.meta, w.n, time.Now(), w.s.opts.SliceSize, w.crcs, nil)
	if err := w.s.commit(w.key, w.id, weightOf(w.meta, w.n), rec, w.meta.Tags); err != nil {
		w.err = err
		w.s.removeFile(w.id)
		return err
	}
	return nil
}

// Abort discards the object. It is safe to call after Commit (it does
// nothing then) and more than once.
func (w *Writer) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.reserve(-w.reserved)
	if w.f != nil {
		w.f.Close()
		w.f = nil
		w.s.removeFile(w.id)
	}
}
