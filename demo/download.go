package demo

import (
	"encoding/binary"
	"io"
	"strconv"
	"strings"
	"time"
)

const (
	mib = 1 << 20
	// bigSize is the size of /download/big.bin.
	bigSize = 64 * mib
	// hugeSize is the size of /download/huge.bin: a 10 GiB object for
	// range requests (an edge with a disk tier caches it slice by slice).
	hugeSize = 10 << 30
	// maxDownloadMiB bounds /download/<n>MiB.bin.
	maxDownloadMiB = 256
)

// downloadModTime is the Last-Modified of every download: the bytes are a
// pure function of the offset, so they never change.
var downloadModTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// downloadSize maps a file name under /download/ to its size: big.bin,
// huge.bin, or <n>MiB.bin for n in 1..256 written without leading zeros.
func downloadSize(name string) (int64, bool) {
	switch name {
	case "big.bin":
		return bigSize, true
	case "huge.bin":
		return hugeSize, true
	}
	num, ok := strings.CutSuffix(name, "MiB.bin")
	if !ok {
		return 0, false
	}
	n, ok := canonicalInt(num)
	if !ok || n < 1 || n > maxDownloadMiB {
		return 0, false
	}
	return int64(n) * mib, true
}

// downloadETag is a strong validator for a download of size bytes: the
// content depends on nothing else, across restarts too.
func downloadETag(size int64) string {
	return `"tern-demo-` + strconv.FormatInt(size, 10) + `-v1"`
}

// Download is the content of every /download/ file: the file of size n
// is bytes [0, n) of it. Tests read it to check what an edge serves.
func Download() io.ReaderAt { return pattern{} }

// newDownload returns the size bytes of a download, generated on demand so
// that no file is ever held in memory; http.ServeContent seeks in it to
// serve ranges.
func newDownload(size int64) io.ReadSeeker {
	return io.NewSectionReader(pattern{}, 0, size)
}

// pattern is an endless, deterministic stream of pseudo-random bytes: the
// 8 bytes at offset 8k are splitmix64(k), little-endian. Any offset can be
// read without reading what comes before it.
type pattern struct{}

func (pattern) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		var word [8]byte
		binary.LittleEndian.PutUint64(word[:], splitmix64(uint64(pos>>3)))
		n += copy(p[n:], word[pos&7:])
	}
	return n, nil
}

// splitmix64 is the finaliser of Steele, Lea and Flood's SplitMix64: a
// cheap bijection that scrambles consecutive inputs into unrelated outputs.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
