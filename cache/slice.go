package cache

import (
	"errors"
	"strings"
	"time"
)

// SliceStore keeps large objects slice by slice (a disk tier), so that a
// range request fetches and stores only the slices it needs and a huge
// object is never fetched whole to answer one range.
type SliceStore interface {
	// SliceSize is the size of every slice but the last, which holds what
	// remains.
	SliceSize() int64
	// PartialMax is the most one partial object may hold: PutSlice
	// declines slices beyond it, so a larger object is never completed
	// slice by slice.
	PartialMax() int64
	// PutSlice stores slice i of the object meta describes (Status 200,
	// the whole response's header and freshness; Body unset), whose body
	// is total bytes long. body is the whole slice. If key holds the same
	// representation (SameRepresentation, and the same length), the slice
	// joins it and its metadata becomes meta's; otherwise a new partial
	// object holding just this slice replaces whatever key held (the
	// object changed at the origin: its old slices must not be mixed with
	// the new). The object is visible to Get with the slice once PutSlice
	// returns nil; it is complete once every slice has been put.
	PutSlice(key string, meta *Object, total, i int64, body []byte) error
}

// PartialBody is a FileBody that may hold only some of its slices. Verify
// reports a missing slice with an error that is not corruption.
type PartialBody interface {
	FileBody
	// SliceSize is the size of the body's slices.
	SliceSize() int64
	// Has reports whether slice i is stored.
	Has(i int64) bool
	// Complete reports whether every slice is stored.
	Complete() bool
}

// Partial returns o's body as a PartialBody when some of its slices are
// missing, or nil for a complete object.
func Partial(o *Object) PartialBody {
	if o == nil || o.File == nil {
		return nil
	}
	if p, ok := o.File.(PartialBody); ok && !p.Complete() {
		return p
	}
	return nil
}

// SameRepresentation reports whether two responses for a key are the same
// representation, so that byte ranges of one may be combined with those
// of the other (RFC 9111 §3.4, RFC 9110 §13.1.5): both carry the same
// strong entity tag, or, when neither has an entity tag, the same strong
// Last-Modified date. Responses with no strong validator never match:
// there is no telling whether they are the same.
func SameRepresentation(a, b Header) bool {
	ea, eb := a.Get("Etag"), b.Get("Etag")
	if ea != "" || eb != "" {
		return ea == eb && strongETag(ea)
	}
	la, lb := a.Get("Last-Modified"), b.Get("Last-Modified")
	return la != "" && la == lb && strongLastModified(a) && strongLastModified(b)
}

// strongLastModified reports whether h's Last-Modified is a strong
// validator: at least 60 seconds before its Date (RFC 9110 §8.8.2.2), so
// that a change within the same second cannot hide behind it.
func strongLastModified(h Header) bool {
	lm, ok1 := ParseHTTPDate(h.Get("Last-Modified"))
	date, ok2 := singleDate(h["Date"])
	return ok1 && ok2 && date.Sub(lm) >= time.Minute
}

// CanCombine reports whether a response carries a validator that
// SameRepresentation can compare: a strong entity tag, or Last-Modified
// and no entity tag.
func CanCombine(h Header) bool { return SameRepresentation(h, h) }

func strongETag(t string) bool {
	return len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"'
}

// RangeSpec is one byte range as a request states it, before the
// representation's length is known (RFC 9110 §14.1.2): First-Last, or
// First- (Last is -1), or the last Suffix bytes.
type RangeSpec struct {
	First, Last int64
	Suffix      int64 // > 0 for a suffix range; First and Last are unused
}

// ParseRangeSpec parses a Range field value that asks for exactly one
// byte range. It reports false for anything else (several ranges, another
// unit, invalid syntax): ParseRange handles those once the length is
// known.
func ParseRangeSpec(value string) (RangeSpec, bool) {
	unit, set, ok := strings.Cut(strings.TrimSpace(value), "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return RangeSpec{}, false
	}
	set = trimRightOWS(trimLeftOWS(set))
	if strings.Contains(set, ",") {
		return RangeSpec{}, false
	}
	first, last, ok := strings.Cut(set, "-")
	if !ok {
		return RangeSpec{}, false
	}
	if first == "" {
		n, ok := parseRangeInt(last)
		if !ok || n == 0 {
			return RangeSpec{}, false
		}
		return RangeSpec{Suffix: n}, true
	}
	f, ok := parseRangeInt(first)
	if !ok {
		return RangeSpec{}, false
	}
	if last == "" {
		return RangeSpec{First: f, Last: -1}, true
	}
	l, ok := parseRangeInt(last)
	if !ok || l < f {
		return RangeSpec{}, false
	}
	return RangeSpec{First: f, Last: l}, true
}

// Resolve is the range spec against a representation of size bytes, or
// false when it is not satisfiable (RFC 9110 §14.1.1).
func (s RangeSpec) Resolve(size int64) (ByteRange, bool) {
	if s.Suffix > 0 {
		if size <= 0 {
			return ByteRange{}, false
		}
		return ByteRange{max(size-s.Suffix, 0), size - 1}, true
	}
	if s.First >= size {
		return ByteRange{}, false
	}
	end := size - 1
	if s.Last >= 0 && s.Last < end {
		end = s.Last
	}
	return ByteRange{s.First, end}, true
}

// ErrContentRange is returned by ParseContentRange for a field that is
// not a satisfied byte range with a known complete length.
var ErrContentRange = errors.New("invalid Content-Range")

// ParseContentRange parses the Content-Range of a 206 response to a
// single range (RFC 9110 §14.4): "bytes first-last/complete". An unknown
// complete length ("/*") is an error here: a range of a representation
// of unknown length cannot be placed in a cache's slices.
func ParseContentRange(v string) (r ByteRange, size int64, err error) {
	unit, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(unit, "bytes") {
		return r, 0, ErrContentRange
	}
	span, total, ok := strings.Cut(strings.TrimLeft(rest, " "), "/")
	if !ok {
		return r, 0, ErrContentRange
	}
	first, last, ok := strings.Cut(span, "-")
	if !ok {
		return r, 0, ErrContentRange
	}
	var ok1, ok2, ok3 bool
	r.Start, ok1 = parseRangeInt(first)
	r.End, ok2 = parseRangeInt(last)
	size, ok3 = parseRangeInt(total)
	if !ok1 || !ok2 || !ok3 || r.End < r.Start || r.End >= size {
		return ByteRange{}, 0, ErrContentRange
	}
	return r, size, nil
}
