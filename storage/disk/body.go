package disk

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"

	"github.com/terncdn/tern/cache"
)

// ErrCorrupt is returned by Verify (and Open) when the stored bytes do not
// match what was written; the object has been dropped.
var ErrCorrupt = errors.New("stored object is corrupt")

// ErrMissingSlice is returned by Verify for a range that includes a slice
// the store does not hold (a partial object).
var ErrMissingSlice = errors.New("slice not stored")

// fileBody is the cache.FileBody of a stored object: its body is the
// whole data file, from offset 0.
type fileBody struct {
	s         *Store
	hash, id  uint64
	n         int64
	sliceSize int64
	present   []byte
	crcs      []uint32
	complete  bool // every slice is present
}

var _ cache.PartialBody = (*fileBody)(nil)

func (b *fileBody) Len() int64 { return b.n }

// SliceSize is the size of the body's slices.
func (b *fileBody) SliceSize() int64 { return b.sliceSize }

// Has reports whether slice i is stored.
func (b *fileBody) Has(i int64) bool {
	return i >= 0 && i < int64(len(b.crcs)) && hasBit(b.present, int(i))
}

// Complete reports whether every slice is stored.
func (b *fileBody) Complete() bool { return b.complete }

// Open opens the data file. A file that is missing or shorter than the
// body (a record that outlived its file in a crash) drops the object.
func (b *fileBody) Open() (*os.File, int64, error) {
	f, err := os.Open(b.s.dataPath(b.id))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			b.s.dropID(b.id)
			return nil, 0, fmt.Errorf("open stored body: %w: data file missing", ErrCorrupt)
		}
		return nil, 0, fmt.Errorf("open stored body: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("open stored body: %w", err)
	}
	if fi.Size() < b.n {
		f.Close()
		b.s.dropID(b.id)
		return nil, 0, fmt.Errorf("open stored body: %w: data file has %d of %d bytes", ErrCorrupt, fi.Size(), b.n)
	}
	return f, 0, nil
}

// Borrow returns an open descriptor of the data file, for the caller
// alone until Return: one kept open by an earlier hit when there is one
// (no open, no fstat), else one Open makes. Its position is undefined.
func (b *fileBody) Borrow() (*os.File, int64, error) {
	if f := b.s.files.take(b.id); f != nil {
		return f, 0, nil
	}
	return b.Open()
}

// Return gives back a descriptor Borrow returned, to be kept open for
// the next hit while the object is stored.
func (b *fileBody) Return(f *os.File) {
	b.s.files.giveBack(b.id, f, b.stored)
}

// stored reports whether the index still holds this body's data file.
func (b *fileBody) stored() bool { return b.s.idx.lookup(b.hash, b.id) != nil }

// readBufs hold the chunks Verify reads slices in.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// Verify checks the CRC32C of each slice that holds a byte of [off,
// off+n), except those that passed earlier in this process. On a mismatch
// it drops the object and counts a checksum failure.
func (b *fileBody) Verify(off, n int64) error {
	if off < 0 || n < 0 || off > b.n {
		return fmt.Errorf("verify stored body: range [%d, +%d) outside %d bytes", off, n, b.n)
	}
	if n == 0 || b.n == 0 {
		return nil
	}
	end := min(off+n, b.n)
	first, last := int(off/b.sliceSize), int((end-1)/b.sliceSize)

	// The verified bitmap lives with the object's index entry, so that it
	// outlasts this Object; before the index has loaded there is none, and
	// each Verify checks again.
	vs := b.s.idx.verifiedFor(b.hash, b.id, len(b.crcs))
	if vs != nil && vs.all.Load() {
		return nil
	}
	var f *os.File
	defer func() {
		if f != nil {
			b.Return(f)
		}
	}()
	for i := first; i <= last; i++ {
		if vs != nil && vs.has(i) {
			continue
		}
		if !hasBit(b.present, i) {
			return fmt.Errorf("verify stored body: slice %d: %w", i, ErrMissingSlice)
		}
		if f == nil {
			var err error
			if f, _, err = b.Borrow(); err != nil {
				return fmt.Errorf("verify stored body: %w", err)
			}
		}
		start := int64(i) * b.sliceSize
		sum, err := crcRange(f, start, min(b.sliceSize, b.n-start))
		if err != nil {
			return fmt.Errorf("verify stored body: slice %d: %w", i, err)
		}
		if sum != b.crcs[i] {
			b.s.checksumFailures.Add(1)
			b.s.dropID(b.id)
			return fmt.Errorf("verify stored body: slice %d: %w: CRC32C %08x, stored %08x", i, ErrCorrupt, sum, b.crcs[i])
		}
		if vs != nil {
			vs.set(i)
		}
	}
	if vs != nil && vs.complete(len(b.crcs)) {
		vs.all.Store(true)
	}
	return nil
}

// crcRange is the CRC32C of n bytes of f from off.
func crcRange(f *os.File, off, n int64) (uint32, error) {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	var sum uint32
	for n > 0 {
		k, err := f.ReadAt(buf[:min(int64(len(buf)), n)], off)
		sum = crc32.Update(sum, crc32c, buf[:k])
		off += int64(k)
		n -= int64(k)
		if err != nil && n > 0 {
			if errors.Is(err, io.EOF) {
				return 0, fmt.Errorf("%w: data file is short", ErrCorrupt)
			}
			return 0, err
		}
	}
	return sum, nil
}
