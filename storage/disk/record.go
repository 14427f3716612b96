package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/terncdn/tern/cache"
)

// recordFormat is the first byte of every index record. A later release
// that changes the layout writes a new format byte and migrates (or drops)
// records with an older one when it meets them.
const recordFormat = 1

// The fixed head of a record, read without decoding the rest (the loader
// and the eviction path need only these):
//
//	[0]      format
//	[1:9]    id, little endian: names the data file
//	[9:17]   weight: cache.Object.Size, what the object counts against Options.Size
//	[17:25]  body length in bytes
//	[25:33]  stored, Unix nanoseconds
//
// then, varint encoded: slice size, slice count, a bitmap of the slices
// present (all of them for a complete object; a partial object, fetched
// slice by slice for range requests, lacks some), one CRC32C per slice (0
// for a missing one), and the cache.Object metadata, its tags last (absent
// when it has none). The weight of a
// partial object counts only the slices it holds.
const recordHead = 33

var errRecord = errors.New("malformed index record")

// record is the decoded form of an index record.
type record struct {
	id        uint64
	weight    int64
	bodyLen   int64
	stored    time.Time
	sliceSize int64
	present   []byte   // bitmap, bit i set when slice i is stored
	crcs      []uint32 // CRC32C (Castagnoli) of each slice
	obj       cache.Object
}

func recordID(v []byte) uint64 {
	if len(v) < recordHead || v[0] != recordFormat {
		return 0
	}
	return binary.LittleEndian.Uint64(v[1:])
}

func recordWeight(v []byte) int64 {
	if len(v) < recordHead || v[0] != recordFormat {
		return 0
	}
	return int64(binary.LittleEndian.Uint64(v[9:]))
}

// encodeRecord appends the record for obj, stored as data file id with
// the given slice checksums, to dst. present is the bitmap of the slices
// held, nil for all of them.
func encodeRecord(dst []byte, id uint64, obj *cache.Object, bodyLen int64, stored time.Time, sliceSize int64, crcs []uint32, present []byte) []byte {
	dst = append(dst, recordFormat)
	dst = binary.LittleEndian.AppendUint64(dst, id)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(weightOf(obj, presentBytes(bodyLen, sliceSize, len(crcs), present))))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(bodyLen))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(stored.UnixNano()))
	dst = binary.AppendUvarint(dst, uint64(sliceSize))
	dst = binary.AppendUvarint(dst, uint64(len(crcs)))
	for i := 0; i < len(crcs); i += 8 {
		if present != nil {
			dst = append(dst, present[i/8])
			continue
		}
		var b byte
		for j := i; j < len(crcs) && j < i+8; j++ {
			b |= 1 << (j - i)
		}
		dst = append(dst, b)
	}
	for _, c := range crcs {
		dst = binary.LittleEndian.AppendUint32(dst, c)
	}

	dst = binary.AppendVarint(dst, int64(obj.Status))
	dst = appendTime(dst, obj.RequestTime)
	dst = appendTime(dst, obj.ResponseTime)
	dst = binary.AppendVarint(dst, int64(obj.InitialAge))

	f := &obj.Freshness
	var flags byte
	for i, set := range [...]bool{f.Storable, f.MustRevalidate, f.NoCache, f.Heuristic} {
		if set {
			flags |= 1 << i
		}
	}
	dst = append(dst, flags)
	dst = appendString(dst, f.Reason)
	dst = binary.AppendVarint(dst, int64(f.Lifetime))
	dst = binary.AppendVarint(dst, int64(f.StaleWhileRevalidate))
	dst = binary.AppendVarint(dst, int64(f.StaleIfError))
	dst = appendStrings(dst, f.NoCacheFields)
	dst = appendStrings(dst, obj.Vary)

	dst = binary.AppendUvarint(dst, uint64(len(obj.Header)))
	for k, vs := range obj.Header {
		dst = appendString(dst, k)
		dst = appendStrings(dst, vs)
	}
	// Tags come last: a record written before they existed ends here, and
	// decodes with none.
	if len(obj.Tags) > 0 {
		dst = appendStrings(dst, obj.Tags)
	}
	return dst
}

// presentBytes is how many of a body's bodyLen bytes the slices marked in
// present hold (all of them when present is nil).
func presentBytes(bodyLen, sliceSize int64, slices int, present []byte) int64 {
	if present == nil {
		return bodyLen
	}
	var n int64
	for i := range slices {
		if hasBit(present, i) {
			n += min(sliceSize, bodyLen-int64(i)*sliceSize)
		}
	}
	return n
}

func hasBit(bitmap []byte, i int) bool { return i/8 < len(bitmap) && bitmap[i/8]&(1<<(i%8)) != 0 }

// allBits reports whether the first n bits of bitmap are set.
func allBits(bitmap []byte, n int) bool {
	for i := range n {
		if !hasBit(bitmap, i) {
			return false
		}
	}
	return true
}

// weightOf is obj.Size for an object whose body (in memory or not) is
// bodyLen bytes long.
func weightOf(obj *cache.Object, bodyLen int64) int64 {
	return obj.Size() - obj.BodyLen() + bodyLen
}

func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	return binary.AppendVarint(dst, t.UnixNano())
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendStrings writes len+1, so that a nil list (0) and an empty one (1)
// decode as they were: a nil Vary is not a vary marker.
func appendStrings(dst []byte, ss []string) []byte {
	if ss == nil {
		return append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(ss))+1)
	for _, s := range ss {
		dst = appendString(dst, s)
	}
	return dst
}

// decodeRecord decodes v, which the caller owns and never modifies again:
// the strings of the returned record point into it, so that decoding costs
// one allocation per header field rather than one per string.
func decodeRecord(v []byte) (record, error) {
	var r record
	if len(v) < recordHead {
		return r, fmt.Errorf("%w: %d bytes", errRecord, len(v))
	}
	if v[0] != recordFormat {
		return r, fmt.Errorf("%w: format %d, this release reads %d", errRecord, v[0], recordFormat)
	}
	r.id = binary.LittleEndian.Uint64(v[1:])
	r.weight = int64(binary.LittleEndian.Uint64(v[9:]))
	r.bodyLen = int64(binary.LittleEndian.Uint64(v[17:]))
	r.stored = time.Unix(0, int64(binary.LittleEndian.Uint64(v[25:])))
	d := decoder{b: v, off: recordHead}
	r.sliceSize = int64(d.uvarint())
	n := d.uvarint()
	if d.err == nil && (n > uint64(len(v)) || r.sliceSize <= 0 && n > 0) {
		d.err = errRecord
	}
	r.present = d.bytes(int((n + 7) / 8))
	if raw := d.bytes(int(n) * 4); d.err == nil && n > 0 {
		r.crcs = make([]uint32, n)
		for i := range r.crcs {
			r.crcs[i] = binary.LittleEndian.Uint32(raw[4*i:])
		}
	}

	o := &r.obj
	o.Status = int(d.varint())
	o.RequestTime = d.time()
	o.ResponseTime = d.time()
	o.InitialAge = time.Duration(d.varint())
	f := &o.Freshness
	flags := d.byte()
	f.Storable, f.MustRevalidate, f.NoCache, f.Heuristic = flags&1 != 0, flags&2 != 0, flags&4 != 0, flags&8 != 0
	f.Reason = d.string()
	f.Lifetime = time.Duration(d.varint())
	f.StaleWhileRevalidate = time.Duration(d.varint())
	f.StaleIfError = time.Duration(d.varint())
	f.NoCacheFields = d.strings()
	o.Vary = d.strings()
	if nh := d.uvarint(); d.err == nil && nh > 0 {
		if nh > uint64(len(v)) {
			return r, errRecord
		}
		o.Header = make(cache.Header, nh)
		for range nh {
			k := d.string()
			o.Header[k] = d.strings()
		}
	}
	if d.err == nil && d.off < len(v) {
		o.Tags = d.strings()
	}
	if d.err != nil {
		return r, fmt.Errorf("decode index record: %w", d.err)
	}
	return r, nil
}

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errRecord
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail()
		return 0
	}
	d.off += n
	return x
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail()
		return 0
	}
	d.off += n
	return x
}

func (d *decoder) byte() byte {
	if d.err != nil || d.off >= len(d.b) {
		d.fail()
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b)-d.off {
		d.fail()
		return nil
	}
	d.off += n
	return d.b[d.off-n : d.off : d.off]
}

func (d *decoder) time() time.Time {
	if d.byte() == 0 {
		return time.Time{}
	}
	return time.Unix(0, d.varint())
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	b := d.bytes(int(n))
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (d *decoder) strings() []string {
	n := d.uvarint()
	if n == 0 || d.err != nil {
		return nil
	}
	n--
	if n > uint64(len(d.b)-d.off) {
		d.fail()
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.string()
	}
	return ss
}
