package cache

import (
	"net/textproto"
	"os"
	"time"
)

// Header is a header map in canonical MIME form. http.Header and
// textproto.MIMEHeader convert to and from it at no cost.
type Header = textproto.MIMEHeader

// Object is one stored response: the unit the storage tiers hold.
//
// An Object is immutable once it has been handed to a Storage: a
// revalidation (RFC 9111 §4.3.4) makes a new Object with Updated and stores
// that in its place, so readers holding the old one are never disturbed.
type Object struct {
	// Status is the stored response's status code.
	Status int
	// Header is the stored response header, with hop-by-hop fields and the
	// fields named by private="..." already removed.
	Header Header
	// Body is the complete response body, when it is held in memory. It is
	// nil for a vary marker and for an object a disk tier holds (File).
	Body []byte
	// File, when set, holds the body in a disk tier instead of Body, so
	// that hits can be served from the file without copying (sendfile).
	File FileBody

	// RequestTime and ResponseTime are when the request that produced this
	// response was sent and when its head arrived (RFC 9111 §4.2.3).
	RequestTime, ResponseTime time.Time
	// InitialAge is corrected_initial_age of RFC 9111 §4.2.3: the age the
	// response already had when it was received.
	InitialAge time.Duration

	// Freshness is what the storability and freshness rules decided for
	// this response when it was received (or last revalidated).
	Freshness Freshness

	// Vary, when set, makes this object a vary marker: the response stored
	// under this primary key varies on these request fields (lower case,
	// sorted), and the variants live under VariantKey(primary, Vary, req).
	Vary []string

	// Tags are the object's cache tags (see TakeTags), sorted: a purge by
	// tag removes every object carrying it. The tag fields themselves are
	// not kept in Header.
	Tags []string
}

// FileBody is a body held in a file by a disk tier.
type FileBody interface {
	// Len is the body's length in bytes.
	Len() int64
	// Open returns the file and the offset at which the body starts in it.
	// The caller closes the file. A body may be served with sendfile from
	// it once Verify has passed for the bytes served.
	Open() (f *os.File, offset int64, err error)
	// Verify checks the checksums of the stored bytes in [off, off+n) of
	// the body (rounded out to the slices that hold them). A tier may verify
	// each slice once per process and remember it. An error means the
	// object is corrupt: the tier has dropped it, and the caller fetches it
	// again.
	Verify(off, n int64) error
}

// SharedFileBody is a FileBody whose tier keeps its files open between
// uses: hits borrow a descriptor instead of opening and closing the file.
type SharedFileBody interface {
	FileBody
	// Borrow returns an open file of the body and the offset at which the
	// body starts in it, for the caller alone until it passes the file to
	// Return (instead of closing it). The file's position is undefined:
	// the caller seeks, or reads at offsets. Verify rules as for Open.
	Borrow() (f *os.File, offset int64, err error)
	// Return gives back a file Borrow returned.
	Return(f *os.File)
}

// BodyLen is the length of the body, wherever it is held.
func (o *Object) BodyLen() int64 {
	if o.File != nil {
		return o.File.Len()
	}
	return int64(len(o.Body))
}

// Size is what the object weighs in a storage tier, in bytes: body, header
// and a fixed overhead for the struct itself.
func (o *Object) Size() int64 {
	n := o.BodyLen() + 256
	for k, vs := range o.Header {
		n += int64(len(k))
		for _, v := range vs {
			n += int64(len(v)) + 4
		}
	}
	for _, v := range o.Vary {
		n += int64(len(v))
	}
	for _, t := range o.Tags {
		n += 2*int64(len(t)) + tagIndexOverhead
	}
	return n
}

// tagIndexOverhead is what one tag of an object costs a storage tier
// beyond its bytes, which it holds twice (in the object and as a key of
// its tag index): the string headers, and the index entry of the tag,
// measured at about 350 bytes in the memory tier's index when the tag is
// the object's own (a map per tag). It is weighed at that, the worst
// case, since an origin decides how many tags an object has and whether
// they are shared: weighed lighter, a store of small objects with many
// tags each would hold many times its capacity.
const tagIndexOverhead = 352
