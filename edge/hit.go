package edge

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/terncdn/tern/cache"
)

// noRequestDirectives is what the edge passes for the viewer's own
// Cache-Control: like CloudFront, nginx and Varnish, Tern does not let
// viewers force a fetch from the origin (no-cache, max-age=0) or accept
// stale content on their behalf. A CDN that honoured them would let anyone
// push all traffic through to the origin.
var noRequestDirectives = cache.ParseCacheControl(nil)

// bytesView reads b as a string without copying. Only for lookups that do
// not keep the key.
func bytesView(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// serveCached is phases 5-10 for a request the cache may answer.
func (s *Server) serveCached(x *exchange) {
	r, b := x.r, x.behavior
	if b.keyHost {
		// The key's Host is the one that chose the distribution and goes
		// to the origin: Request.Host. net/http takes an HTTP/1.1 Host out
		// of the header map, and an HTTP/2 viewer may send a host field
		// that disagrees with :authority, which wins (RFC 9113 §8.3.1).
		// Keyed on the map, every name of a wildcard distribution would
		// share one object, or a viewer could store one name's object
		// under another's key.
		r.Header["Host"] = []string{r.Host}
	}
	x.key = cache.AppendKey(x.key[:0], x.dist.id, x.path, r.URL.RawQuery, cache.Header(r.Header), &b.key)
	if r.Method == http.MethodOptions {
		x.key = append(x.key, "\x00M=OPTIONS"...)
	} else if b.compress {
		// The coding the edge sends this viewer, as the key ends with it
		// (compress.go).
		x.enc = b.key.Encoding(r.Header["Accept-Encoding"])
	}

	// 5. lookup
	obj := s.lookup(x)
	if x.enc != "" && (obj == nil || obj.Status != 0 && cache.Partial(obj) == nil && mustRevalidate(obj, x.start)) &&
		s.serveCoding(x, obj) {
		return
	}
	s.serveLookedUp(x, obj)
}

// serveLookedUp is serveCached once the lookup found obj (nil: nothing).
func (s *Server) serveLookedUp(x *exchange, obj *cache.Object) {
	r := x.r
	if obj == nil {
		if s.slicing(x) {
			s.serveSliced(x, nil) // a range of an object not cached: fetch its slices
			return
		}
		s.fetch(x, nil) // 6-10 on a miss
		return
	}
	if p := cache.Partial(obj); p != nil && s.slices != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		if r.Method == http.MethodGet && r.Header.Get("Range") == "" && p.Len() > s.slices.PartialMax() &&
			s.bodies != nil && p.Len() <= s.bodiesMax {
			// A whole GET of an object too large to complete slice by
			// slice: fetch and store it whole, as a miss would.
			s.fetch(x, nil)
			return
		}
		s.serveSliced(x, obj) // some slices are stored: fetch the others as needed
		return
	}
	if obj.Status == 0 {
		// A recent response for this key was not storable (hit-for-pass):
		// do not make viewers queue behind one another for it. Once the
		// marker is old, the next request tries the cache again.
		if obj.FreshFor(x.start) > 0 {
			s.pass(x)
		} else {
			s.fetch(x, nil)
		}
		return
	}
	// x.start is "now" for the whole lookup: microseconds old, and one
	// clock read less on the hit path.
	switch obj.Usability(x.start, noRequestDirectives) {
	case cache.Fresh:
		x.result = resultHit
		s.respondObject(x, obj, x.start)
	case cache.StaleWhileRevalidate:
		// RFC 5861 §3: serve the stale response now, refresh behind it.
		x.result = resultHit
		x.detail = "StaleWhileRevalidateHit"
		s.refreshInBackground(x, obj)
		s.respondObject(x, obj, x.start)
	default:
		s.fetch(x, obj) // stale: revalidate, collapsed like a miss
	}
}

// mustRevalidate reports whether obj may not be served without asking the
// origin (not fresh, and not within stale-while-revalidate).
func mustRevalidate(obj *cache.Object, now time.Time) bool {
	u := obj.Usability(now, noRequestDirectives)
	return u != cache.Fresh && u != cache.StaleWhileRevalidate
}

// lookup finds the stored response for x.key, following a vary marker to
// the variant that matches this request (RFC 9111 §4.1).
func (s *Server) lookup(x *exchange) *cache.Object {
	obj, ok := s.store.Get(bytesView(x.key))
	if !ok {
		return nil
	}
	if obj.Vary == nil {
		return obj
	}
	x.vkey = cache.AppendVariantKey(x.vkey[:0], bytesView(x.key), obj.Vary, cache.Header(x.r.Header))
	x.varied = true
	obj, ok = s.store.Get(bytesView(x.vkey))
	if !ok {
		return nil
	}
	return obj
}

// respondObject is phase 10 for a stored object: conditional (304/412),
// range (206/416) or the whole object. now is the time its Age is for.
func (s *Server) respondObject(x *exchange, obj *cache.Object, now time.Time) {
	if er := x.dist.errorResponses[obj.Status]; er != nil && !x.errorPage {
		s.errorResponse(x, obj.Status, er)
		return
	}
	h := x.w.Header()
	for k, v := range obj.Header {
		h[k] = v
	}
	tagsForTier(x, h, obj.Tags)
	if len(obj.Freshness.NoCacheFields) > 0 && x.result == resultHit {
		// RFC 9111 §5.2.2.4: fields named by no-cache="..." go out only
		// after a successful validation.
		for _, f := range obj.Freshness.NoCacheFields {
			delete(h, f)
		}
	}
	h["Age"] = ageValue(obj.CurrentAge(now))
	markOriginError(x, obj.Status)
	s.decorate(x, h)
	if err := s.respondBody(x, h, obj.Status, bodyOf(obj)); err != nil {
		// A disk tier found the object corrupt and dropped it: nothing was
		// written, so fetch it again as a miss.
		slog.Warn("stored object failed its checksum; fetching it again", "id", x.id, "error", err)
		for k := range h {
			delete(h, k)
		}
		x.result, x.detail = resultMiss, ""
		s.store.Delete(x.joinKey())
		s.fetch(x, nil)
	}
}

// respondBody writes a complete body with conditional and range handling.
// h already holds the response header. It returns errCorrupt, having
// written nothing, when a disk tier's checksums refuse the bytes to send.
func (s *Server) respondBody(x *exchange, h http.Header, status int, b storedBody) error {
	r := x.r
	if answerConditional(x, h, status) {
		return nil
	}
	size := b.len()
	if status == http.StatusOK && r.Method == http.MethodGet {
		h["Accept-Ranges"] = acceptRangesBytes
		if rv := r.Header.Get("Range"); rv != "" && (r.Header.Get("If-Range") == "" || ifRangeHolds(x, h)) {
			ranges, err := cache.ParseRange(rv, size)
			switch {
			case errors.Is(err, cache.ErrUnsatisfiable):
				clearBodyHeaders(h)
				h.Set("Content-Range", cache.UnsatisfiedRange(size))
				x.w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
				return nil
			case err == nil && len(ranges) == 1:
				rg := ranges[0]
				if err := b.verify(rg.Start, rg.Length()); err != nil {
					return err
				}
				h.Set("Content-Range", cache.ContentRange(rg, size))
				h.Set("Content-Length", strconv.FormatInt(rg.Length(), 10))
				x.w.WriteHeader(http.StatusPartialContent)
				return b.write(x, rg.Start, rg.Length())
			case err == nil && len(ranges) > 1:
				for _, rg := range ranges {
					if err := b.verify(rg.Start, rg.Length()); err != nil {
						return err
					}
				}
				ct := h.Get("Content-Type")
				boundary := x.id
				h.Set("Content-Type", "multipart/byteranges; boundary="+boundary)
				h.Set("Content-Length", strconv.FormatInt(cache.MultipartLength(ranges, ct, boundary, size), 10))
				x.w.WriteHeader(http.StatusPartialContent)
				return b.writeMultipart(&x.w, ranges, ct, boundary)
			}
			// Anything else (a syntactically invalid Range) is ignored:
			// the whole object follows (RFC 9110 §14.2).
		}
	}
	send := r.Method != http.MethodHead && bodyAllowed(status)
	if send {
		if err := b.verify(0, size); err != nil {
			return err
		}
	}
	if _, ok := h["Content-Length"]; !ok && bodyAllowed(status) {
		h["Content-Length"] = []string{strconv.FormatInt(size, 10)}
	}
	x.w.WriteHeader(status)
	if send {
		return b.write(x, 0, size)
	}
	return nil
}

// storedBody is the body of a stored object: bytes in memory, or a file of
// a disk tier, sent with sendfile.
type storedBody struct {
	mem  []byte
	file cache.FileBody
}

func bodyOf(o *cache.Object) storedBody { return storedBody{mem: o.Body, file: o.File} }

// errCorrupt: a disk tier's checksum refused the object (and dropped it).
var errCorrupt = errors.New("stored object failed its checksum")

func (b storedBody) len() int64 {
	if b.file != nil {
		return b.file.Len()
	}
	return int64(len(b.mem))
}

func (b storedBody) verify(off, n int64) error {
	if b.file == nil || n == 0 {
		return nil
	}
	if err := b.file.Verify(off, n); err != nil {
		return fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return nil
}

// open opens the file for one send: a descriptor the tier keeps open, when
// it keeps them (cache.SharedFileBody), or a new one.
func (b storedBody) open() (*os.File, int64, error) {
	if sf, ok := b.file.(cache.SharedFileBody); ok {
		return sf.Borrow()
	}
	return b.file.Open()
}

// release is Close for what open returned.
func (b storedBody) release(f *os.File) {
	if sf, ok := b.file.(cache.SharedFileBody); ok {
		sf.Return(f)
		return
	}
	f.Close()
}

// write sends n bytes from off, after the head WriteHeader set. A file
// goes through the connection's ReadFrom, which is sendfile on a plain TCP
// connection.
func (b storedBody) write(x *exchange, off, n int64) error {
	w := &x.w
	if b.file == nil {
		w.Write(b.mem[off : off+n])
		return nil
	}
	f, base, err := b.open()
	if err != nil {
		panic(http.ErrAbortHandler) // the head is out: cut the connection
	}
	defer b.release(f)
	if _, err := f.Seek(base+off, io.SeekStart); err != nil {
		panic(http.ErrAbortHandler)
	}
	if _, typed := w.Header()["Content-Type"]; typed {
		// Write the head now: net/http's ReadFrom would otherwise first
		// read 512 bytes of the file through a buffer (to sniff a
		// Content-Type) before it hands the rest to sendfile. Without a
		// Content-Type, it still does, so both tiers sniff alike.
		w.Flush()
	}
	if m, _ := w.ReadFrom(&io.LimitedReader{R: f, N: n}); m != n {
		panic(http.ErrAbortHandler) // short: never a body that looks complete
	}
	return nil
}

func (b storedBody) writeMultipart(w *countingWriter, ranges []cache.ByteRange, ct, boundary string) error {
	if b.file == nil {
		cache.WriteMultipart(w, b.mem, ranges, ct, boundary)
		return nil
	}
	f, base, err := b.open()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer b.release(f)
	cache.WriteMultipartFrom(w, io.NewSectionReader(f, base, b.file.Len()), b.file.Len(), ranges, ct, boundary)
	return nil
}

var acceptRangesBytes = []string{"bytes"}

// ageValues are the Age header values of the first ten minutes, shared so
// that most hits set Age without allocating.
var ageValues = func() (v [600][]string) {
	for i := range v {
		v[i] = []string{cache.AgeHeaderValue(time.Duration(i) * time.Second)}
	}
	return v
}()

func ageValue(age time.Duration) []string {
	if s := int(age / time.Second); s >= 0 && s < len(ageValues) {
		return ageValues[s]
	}
	return []string{cache.AgeHeaderValue(age)}
}

// answerConditional answers the viewer's conditional request from the
// response head h (RFC 9110 §13.2.2) with 304 or 412, and reports whether
// it did. The body is not needed for that, so a hit, a fill in progress and
// a pass-through all use it.
func answerConditional(x *exchange, h http.Header, status int) bool {
	if status != http.StatusOK && status != http.StatusNoContent {
		return false
	}
	switch cache.EvaluateConditional(x.r.Method, cache.Header(x.r.Header), cache.Header(h), status) {
	case http.StatusNotModified:
		notModified(h)
		x.w.WriteHeader(http.StatusNotModified)
		return true
	case http.StatusPreconditionFailed:
		clearBodyHeaders(h)
		x.w.WriteHeader(http.StatusPreconditionFailed)
		return true
	}
	return false
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// notModified trims a response header to what a 304 carries: the fields
// RFC 9110 §15.4.5 names (cache.NotModifiedHeader) and the edge's own.
// The tags handed to another tier (tagsForTier) stay: the node that
// revalidates through this one replaces its copy's tags with them, as it
// would with the origin's 304.
func notModified(h http.Header) {
	keep := make(http.Header, 12)
	cache.NotModifiedHeader(cache.Header(h), cache.Header(keep))
	for _, k := range [...]string{"Age", "Via", HeaderCache, HeaderRequestID, HeaderPOP, HeaderError, cache.SurrogateKeyHeader} {
		if v, ok := h[k]; ok {
			keep[k] = v
		}
	}
	clear(h)
	for k, v := range keep {
		h[k] = v
	}
}

func clearBodyHeaders(h http.Header) {
	delete(h, "Content-Length")
	delete(h, "Content-Encoding")
	delete(h, "Etag")
	delete(h, "Last-Modified")
	delete(h, "Accept-Ranges")
}

// copyBuffers for streaming bodies.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
