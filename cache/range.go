package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ByteRange is a satisfiable byte range of a representation, with both
// ends inclusive (RFC 9110 §14.1.2).
type ByteRange struct{ Start, End int64 }

// Length is the number of bytes in the range.
func (r ByteRange) Length() int64 { return r.End - r.Start + 1 }

var (
	// ErrUnsatisfiable means no range in a valid Range field overlaps the
	// representation: answer 416 (RFC 9110 §15.5.17).
	ErrUnsatisfiable = errors.New("range not satisfiable")
	// ErrIgnoreRange means the Range field is invalid, in a unit other
	// than bytes, or abusive: ignore it and serve 200 (RFC 9110 §14.2).
	ErrIgnoreRange = errors.New("range ignored")
)

// MaxRanges is how many ranges one Range field may ask for before it is
// ignored as abusive (RFC 9110 §14.2, §17.15).
const MaxRanges = 100

// coalesceGap is the gap below which ranges are merged: about the size of
// a multipart part header, so merging never sends more bytes.
const coalesceGap = 80

// ParseRange parses a Range field value (RFC 9110 §14.2) against a
// representation of size bytes. It returns the satisfiable ranges,
// clamped to the representation; suffix ranges (bytes=-500) count from
// the end. Ranges that overlap or lie closer than a part header are
// coalesced, sorted, into one (§14.3 allows this regardless of order);
// otherwise the requested order is kept.
//
// Errors: ErrIgnoreRange for a syntactically invalid field, another unit,
// or more than MaxRanges ranges; ErrUnsatisfiable when none is
// satisfiable (§14.1.1).
func ParseRange(value string, size int64) ([]ByteRange, error) {
	unit, set, ok := strings.Cut(strings.TrimSpace(value), "=")
	// §14.1: range units compare case-insensitively.
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return nil, ErrIgnoreRange
	}
	var ranges []ByteRange
	count := 0
	for set != "" {
		var spec string
		spec, set, _ = strings.Cut(set, ",")
		spec = trimRightOWS(trimLeftOWS(spec))
		if spec == "" {
			continue // §5.6.1: empty list elements are ignored
		}
		if count++; count > MaxRanges {
			return nil, ErrIgnoreRange
		}
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			return nil, ErrIgnoreRange
		}
		if first == "" {
			// suffix-range: the last n bytes (§14.1.2).
			n, ok := parseRangeInt(last)
			if !ok {
				return nil, ErrIgnoreRange
			}
			if n == 0 || size <= 0 {
				continue // unsatisfiable
			}
			ranges = append(ranges, ByteRange{max(size-n, 0), size - 1})
			continue
		}
		start, ok := parseRangeInt(first)
		if !ok {
			return nil, ErrIgnoreRange
		}
		end := int64(math.MaxInt64)
		if last != "" {
			if end, ok = parseRangeInt(last); !ok || end < start {
				// §14.1.1: last-pos below first-pos makes the field invalid.
				return nil, ErrIgnoreRange
			}
		}
		if start >= size {
			continue // unsatisfiable
		}
		ranges = append(ranges, ByteRange{start, min(end, size-1)})
	}
	if count == 0 {
		return nil, ErrIgnoreRange
	}
	if len(ranges) == 0 {
		return nil, ErrUnsatisfiable
	}
	return coalesce(ranges), nil
}

// parseRangeInt parses 1*DIGIT, saturating at MaxInt64.
func parseRangeInt(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) {
			return 0, false
		}
		if n > (math.MaxInt64-9)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// coalesce merges ranges when any two overlap or nearly touch.
func coalesce(ranges []ByteRange) []ByteRange {
	if len(ranges) < 2 {
		return ranges
	}
	sorted := slices.Clone(ranges)
	slices.SortFunc(sorted, func(a, b ByteRange) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	merged := sorted[:1]
	for _, r := range sorted[1:] {
		last := &merged[len(merged)-1]
		if r.Start <= last.End+coalesceGap {
			last.End = max(last.End, r.End)
			continue
		}
		merged = append(merged, r)
	}
	if len(merged) == len(ranges) {
		return ranges // nothing to merge: keep the requested order
	}
	return merged
}

// IfRangeAllows reports whether an If-Range condition holds for the
// stored response (RFC 9110 §13.1.5), so the Range field applies: an
// entity tag must match the stored ETag by strong comparison; a date must
// equal the stored Last-Modified exactly, and that Last-Modified must be
// strong: at least 60 seconds before the stored Date (§8.8.2.2), and the
// stored ETag, if any, strong.
func IfRangeAllows(ifRange string, stored Header) bool {
	ifRange = strings.TrimSpace(ifRange)
	if ifRange == "" {
		return false
	}
	if ifRange[0] == '"' || strings.HasPrefix(ifRange, "W/") {
		t, ok := parseETag(ifRange)
		if !ok {
			return false
		}
		s, ok := storedETag(stored)
		return ok && strongMatch(t, s)
	}
	t, ok := ParseHTTPDate(ifRange)
	if !ok {
		return false
	}
	if s, ok := storedETag(stored); ok && s.weak {
		// A weak entity tag says the bytes may change while it does not
		// (a content coding made again, RFC 9110 §8.8.1): the older
		// Last-Modified cannot be a strong validator of them either.
		return false
	}
	lm, ok := singleDate(stored["Last-Modified"])
	if !ok || !lm.Equal(t) {
		return false
	}
	date, ok := singleDate(stored["Date"])
	return ok && date.Sub(lm) >= 60e9
}

// ContentRange is the Content-Range value of a part (RFC 9110 §14.4).
func ContentRange(r ByteRange, size int64) string {
	b := make([]byte, 0, 48)
	b = append(b, "bytes "...)
	b = strconv.AppendInt(b, r.Start, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, r.End, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, size, 10)
	return string(b)
}

// UnsatisfiedRange is the Content-Range value of a 416 response
// (RFC 9110 §14.4): "bytes */size".
func UnsatisfiedRange(size int64) string {
	return "bytes */" + strconv.FormatInt(size, 10)
}

// MultipartLength is the exact length WriteMultipart writes for these
// arguments, for Content-Length. size is the representation's length.
func MultipartLength(ranges []ByteRange, contentType, boundary string, size int64) int64 {
	var n int64
	for i, r := range ranges {
		n += int64(partHeaderLen(i, r, contentType, boundary, size)) + r.Length()
	}
	return n + int64(len("\r\n--")+len(boundary)+len("--\r\n"))
}

func partHeaderLen(i int, r ByteRange, contentType, boundary string, size int64) int {
	var scratch [128]byte
	return len(appendPartHeader(scratch[:0], i, r, contentType, boundary, size))
}

// appendPartHeader appends the delimiter and header of part i, in the
// layout mime/multipart writes: the first delimiter has no leading CRLF.
func appendPartHeader(b []byte, i int, r ByteRange, contentType, boundary string, size int64) []byte {
	if i > 0 {
		b = append(b, "\r\n"...)
	}
	b = append(b, "--"...)
	b = append(b, boundary...)
	b = append(b, "\r\nContent-Range: bytes "...)
	b = strconv.AppendInt(b, r.Start, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, r.End, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, size, 10)
	b = append(b, "\r\n"...)
	if contentType != "" {
		b = append(b, "Content-Type: "...)
		b = append(b, contentType...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// WriteMultipart writes a multipart/byteranges body (RFC 9110 §14.6) of
// the ranges of body to w and returns the bytes written. Each part has
// Content-Range and, when contentType is not empty, Content-Type. The
// response's Content-Type is "multipart/byteranges; boundary=" + boundary.
// Every range must lie within body (ParseRange guarantees it).
func WriteMultipart(w io.Writer, body []byte, ranges []ByteRange, contentType, boundary string) (int64, error) {
	return WriteMultipartFrom(w, bytes.NewReader(body), int64(len(body)), ranges, contentType, boundary)
}

// WriteMultipartFrom is WriteMultipart for a body of size bytes read from
// r (a file of a disk tier, say).
func WriteMultipartFrom(w io.Writer, r io.ReaderAt, size int64, ranges []ByteRange, contentType, boundary string) (int64, error) {
	var total int64
	buf := make([]byte, 0, 128+len(boundary)+len(contentType))
	for i, rg := range ranges {
		if rg.Start < 0 || rg.End >= size || rg.Start > rg.End {
			return total, fmt.Errorf("write multipart part %d: range %d-%d outside body of %d bytes", i, rg.Start, rg.End, size)
		}
		buf = appendPartHeader(buf[:0], i, rg, contentType, boundary, size)
		n, err := w.Write(buf)
		total += int64(n)
		if err != nil {
			return total, fmt.Errorf("write multipart part %d header: %w", i, err)
		}
		m, err := io.Copy(w, io.NewSectionReader(r, rg.Start, rg.Length()))
		total += m
		if err == nil && m != rg.Length() {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return total, fmt.Errorf("write multipart part %d: %w", i, err)
		}
	}
	buf = append(buf[:0], "\r\n--"...)
	buf = append(buf, boundary...)
	buf = append(buf, "--\r\n"...)
	n, err := w.Write(buf)
	total += int64(n)
	if err != nil {
		return total, fmt.Errorf("write multipart closing delimiter: %w", err)
	}
	return total, nil
}
