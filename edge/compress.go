package edge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/terncdn/tern/cache"
	"github.com/terncdn/tern/collapse"
	"github.com/terncdn/tern/origin"
)

// This file is compression at the edge (a behavior's compress: true,
// CloudFront's "compress objects automatically").
//
// The cache key of such a behavior ends with the one coding the edge will
// send the viewer (cache.ChooseEncoding): "br", "zstd", "gzip", or "" for
// identity. The identity key holds the uncompressed copy; each coding's
// key holds that copy compressed, made once from it and kept beside it.
// So the origin is asked for an object once, whatever codings its viewers
// take:
//
//   - A request for a coding whose key holds nothing (or something stale)
//     looks at the identity key. A fresh identity copy is compressed,
//     stored under the coding's key and served (a hit: no origin request).
//     An identity copy that is not to be compressed (too small, an image,
//     no-transform, ...) is served as it is, by the identity key's own
//     flow. A stale one is revalidated (its validators go out), and the
//     refreshed copy is compressed.
//   - Otherwise the origin is asked for the chosen coding (Accept-Encoding
//     names it alone). What it encodes itself is stored under the coding's
//     key and served as it came. What it does not encode is stored under
//     the identity key, and, when it is to be compressed, compressed once
//     for everyone waiting on the fetch and stored under the coding's key.
//
// Compressed copies carry the identity copy's ETag made weak (W/"..."):
// RFC 9110 §8.8.1, the bytes differ from any other coding's. A range of a
// compressed copy is a range of its compressed bytes (RFC 9110 §14.1.2).
// Purges remove every coding: all keys of a URI share its prefix, and a
// compressed copy carries its identity copy's tags.

// Compression limits, as CloudFront's: smaller bodies gain little, larger
// ones cost too much to compress on the fly.
const (
	compressMin = 1000
	compressMax = 10_000_000
)

// Compression levels, chosen for speed with BenchmarkCompress (64 KiB of
// JavaScript; see bench/README.md): each object is compressed once per
// coding and then served from the cache, but that once is on a viewer's
// request.
const (
	gzipLevel   = 6
	brotliLevel = 5
	zstdLevel   = zstd.SpeedDefault
)

// compressibleTypes are the media types compressed, CloudFront's list
// ("File types that CloudFront compresses"), in lower case.
var compressibleTypes = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range strings.Fields(`
		application/dash+xml application/eot application/font application/font-sfnt
		application/javascript application/json application/opentype application/otf
		application/pkcs7-mime application/protobuf application/rss+xml application/truetype
		application/ttf application/vnd.apple.mpegurl application/vnd.mapbox-vector-tile
		application/vnd.ms-fontobject application/wasm application/x-font-opentype
		application/x-font-truetype application/x-font-ttf application/x-httpd-cgi
		application/x-javascript application/x-mpegurl application/x-opentype
		application/x-otf application/x-perl application/x-ttf application/xhtml+xml
		application/xml font/eot font/otf font/ttf image/svg+xml text/css text/csv
		text/html text/javascript text/js text/plain text/richtext
		text/tab-separated-values text/xml text/x-component text/x-java-source
		text/x-script vnd.apple.mpegurl`) {
		m[t] = true
	}
	return m
}()

// compressibleType reports whether a Content-Type is on the list; its
// parameters (charset) do not matter.
func compressibleType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	if compressibleTypes[mt] {
		return true
	}
	return compressibleTypes[strings.ToLower(mt)]
}

// compressible reports whether a response is to be compressed: status 200,
// 403 or 404, not encoded already, no Cache-Control: no-transform (RFC
// 9111 §5.2.2.6), a type on the list, and a body of size bytes within the
// limits (size < 0, unknown: not compressed).
func compressible(status int, h cache.Header, size int64) bool {
	switch status {
	case http.StatusOK, http.StatusForbidden, http.StatusNotFound:
	default:
		return false
	}
	if size < compressMin || size > compressMax || encoded(h) {
		return false
	}
	if _, ok := h["Content-Range"]; ok {
		return false
	}
	for _, v := range h["Cache-Control"] {
		if headerHasToken([]string{v}, "no-transform") {
			return false
		}
	}
	ct := h["Content-Type"]
	return len(ct) > 0 && compressibleType(ct[0])
}

// encoded reports whether a response has a content coding other than
// identity.
func encoded(h cache.Header) bool {
	for _, v := range h["Content-Encoding"] {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return true
			}
		}
	}
	return false
}

// identityKey is the key of the identity request for x: the same key with
// an empty Accept-Encoding part (AppendKey ends with it).
func (x *exchange) identityKey() []byte { return x.key[:len(x.key)-len(x.enc)] }

// serveCoding serves a request for a coding (x.enc) whose key holds no
// fresh object (encObj is the stale one, or nil) from the identity copy,
// and reports whether it did. When it does not, the caller goes on with
// encObj under the coding's key: a fetch that asks the origin for it.
func (s *Server) serveCoding(x *exchange, encObj *cache.Object) bool {
	id := s.lookupAt(x, x.identityKey())
	if id == nil && !s.slicing(x) {
		return false
	}
	if id == nil || id.Status == 0 || cache.Partial(id) != nil || !compressible(id.Status, id.Header, id.BodyLen()) {
		// Nothing to compress, or a range of an object not cached that a
		// disk tier fetches slice by slice: the request is the identity
		// request, in all its flow (hit, revalidation, hit-for-pass,
		// slices).
		x.key, x.enc, x.varied = x.identityKey(), "", false
		s.serveLookedUp(x, s.lookup(x))
		return true
	}
	if u := id.Usability(x.start, noRequestDirectives); u != cache.Fresh {
		if u == cache.StaleWhileRevalidate && s.serveCodingStale(x, id) {
			return true // served stale, refreshed behind (compress_stream.go)
		}
		// Revalidate the identity copy (codingJob picks it); the fill
		// compresses what it brings (fillFrom).
		if encObj != nil {
			s.fetch(x, encObj)
		} else {
			s.fetch(x, id)
		}
		return true
	}
	// Compress under a fill of the coding's key: viewers who ask for the
	// same coding meanwhile wait for this copy instead of making their
	// own, and a purge that runs meanwhile invalidates the fill, so the
	// copy is not stored after the purge deleted the identity copy (the
	// fill's Store and Group.Invalidate are serialised).
	f, leader := s.fills.Join(x.joinKey())
	if !leader {
		s.followFill(x, f, false, nil)
		return true
	}
	// Read again under the fill: a purge before Join has removed it.
	if id = s.lookupAt(x, x.identityKey()); id == nil || id.Usability(x.start, noRequestDirectives) != cache.Fresh ||
		!compressible(id.Status, id.Header, id.BodyLen()) {
		f.Fail(errRetry)
		s.fetch(x, nil)
		return true
	}
	obj, err := compressObject(id, x.enc)
	res := &fillResult{result: resultHit}
	vary, _ := x.behavior.varyFields(id.Header)
	if len(vary) > 0 {
		// Viewers of another variant who join this fill get their own.
		res.varyFields, res.variantKey = vary, cache.VariantKey(string(x.key), vary, cache.Header(x.r.Header))
	}
	switch {
	case err != nil:
		// A disk tier found the identity copy corrupt and dropped it.
		f.Fail(err)
		s.fetch(x, nil)
		return true
	case obj == nil:
		// It does not get smaller: the identity copy it is, and it is
		// not stored again.
		obj = id
	default:
		f.Store(func() { s.storeAt(string(x.key), cache.Header(x.r.Header), obj, vary) })
	}
	res.obj, res.tags = obj, obj.Tags
	f.Publish(collapse.Head{Status: obj.Status, Shareable: true, Meta: res})
	f.Close(nil)
	x.result = resultHit
	s.respondObject(x, obj, x.start)
	return true
}

// sameVariant reports whether the response a fill brings (res, which
// varies) is the variant x asks for. A fill under a coding's key that
// brought the identity response (the origin did not encode it and it is
// not to be compressed) names it under the identity key, where it is
// stored (fillFrom): it is the variant of a viewer of the coding too.
func (x *exchange) sameVariant(res *fillResult) bool {
	h := cache.Header(x.r.Header)
	if string(cache.AppendVariantKey(x.vkey[:0], string(x.key), res.varyFields, h)) == res.variantKey {
		return true
	}
	return x.enc != "" && string(cache.AppendVariantKey(x.vkey[:0], string(x.identityKey()), res.varyFields, h)) == res.variantKey
}

// ifRangeHolds is cache.IfRangeAllows for the viewer's If-Range and the
// response head h. A viewer that asked for a coding and is sent the
// identity copy (the edge was busy, see compressors) may be resuming a
// compressed copy it got before, which carried the same Last-Modified:
// only an entity tag tells the two apart, so a date does not hold.
func ifRangeHolds(x *exchange, h http.Header) bool {
	ir := strings.TrimSpace(x.r.Header.Get("If-Range"))
	if x.enc != "" && h.Get("Content-Encoding") == "" && !strings.HasPrefix(ir, `"`) && !strings.HasPrefix(ir, "W/") {
		return false
	}
	return cache.IfRangeAllows(ir, cache.Header(h))
}

// errRetry ends a fill whose viewers are to try again.
var errRetry = errors.New("edge: the identity copy changed; fetching")

// lookupAt is lookup for another key than x's, leaving x's variant key
// alone.
func (s *Server) lookupAt(x *exchange, key []byte) *cache.Object {
	obj, ok := s.store.Get(bytesView(key))
	if !ok {
		return nil
	}
	if obj.Vary == nil {
		return obj
	}
	obj, ok = s.store.Get(cache.VariantKey(string(key), obj.Vary, cache.Header(x.r.Header)))
	if !ok {
		return nil
	}
	return obj
}

// compressObject returns id's response compressed with enc, with its
// freshness, times and tags; nil when the compressed body is not smaller,
// or when the edge is too busy compressing (see compressors).
func compressObject(id *cache.Object, enc string) (*cache.Object, error) {
	if !compressors.acquire() {
		return nil, nil
	}
	defer compressors.release()
	body := id.Body
	if id.File != nil {
		b, err := readFileBody(id)
		if err != nil {
			return nil, err
		}
		body = b
	}
	z := compressBytes(enc, body)
	if len(z) >= len(body) {
		return nil, nil
	}
	obj := *id
	obj.Body, obj.File = z, nil
	obj.Header = codingHeader(id.Header, enc, int64(len(z)))
	return &obj, nil
}

// readFileBody reads a body a disk tier holds, checking its checksums.
func readFileBody(o *cache.Object) ([]byte, error) {
	b := bodyOf(o)
	n := b.len()
	if err := b.verify(0, n); err != nil {
		return nil, err
	}
	f, base, err := b.open()
	if err != nil {
		return nil, err
	}
	defer b.release(f)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, base); err != nil && err != io.EOF {
		return nil, err
	}
	return buf, nil
}

// codingHeader is the header of a compressed copy: the identity header
// with Content-Encoding, the new Content-Length, a weak ETag, and
// Accept-Encoding among the Vary fields. h is not changed.
func codingHeader(h cache.Header, enc string, size int64) cache.Header {
	out := make(cache.Header, len(h)+2)
	for k, v := range h {
		out[k] = v
	}
	out["Content-Encoding"] = []string{enc}
	out["Content-Length"] = []string{strconv.FormatInt(size, 10)}
	if et := h.Get("Etag"); et != "" && !strings.HasPrefix(et, "W/") {
		out["Etag"] = []string{"W/" + et}
	}
	if fields, _ := cache.VaryFields(h); !containsFold(fields, "accept-encoding") {
		out["Vary"] = append(h["Vary"][:len(h["Vary"]):len(h["Vary"])], "Accept-Encoding")
	}
	return clipHeader(out)
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// compressors bounds the compressions running at once to the cores, so
// that many misses of large objects at once neither take every core from
// the hits nor hold an encoder and a body copy each. A compression that
// finds every slot taken waits up to compressWait (a 64 KiB script takes
// a few milliseconds, the largest body a few hundred on an idle core; a
// second leaves room for a loaded machine); after that the viewer gets
// the identity copy, and the coding is made by a later request.
// CloudFront too compresses "on a best-effort basis" and sends an object
// uncompressed when busy.
var compressors = newSemaphore(max(1, runtime.GOMAXPROCS(0)))

// compressWait is how long a compression waits for a slot.
const compressWait = time.Second

// semaphore is a counting semaphore whose acquire gives up after
// compressWait.
type semaphore chan struct{}

func newSemaphore(n int) semaphore { return make(semaphore, n) }

func (s semaphore) acquire() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(compressWait)
	defer t.Stop()
	select {
	case s <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

func (s semaphore) release() { <-s }

// Encoders, pooled: a gzip or Brotli writer holds hundreds of KiB of
// state, too much to make per object. A zstd Encoder's EncodeAll is safe
// for concurrent use and keeps its own pool.
var (
	gzipWriters   = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(io.Discard, gzipLevel); return w }}
	brotliWriters = sync.Pool{New: func() any { return brotli.NewWriterLevel(io.Discard, brotliLevel) }}
	zstdEncoder   = func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstdLevel), zstd.WithEncoderCRC(true))
		if err != nil {
			panic(err)
		}
		return e
	}()
)

// compressBytes returns src compressed with enc ("gzip", "br" or "zstd").
func compressBytes(enc string, src []byte) []byte {
	switch enc {
	case "zstd":
		return zstdEncoder.EncodeAll(src, make([]byte, 0, len(src)/3))
	case "gzip":
		var buf bytes.Buffer
		buf.Grow(len(src) / 3)
		w := gzipWriters.Get().(*gzip.Writer)
		w.Reset(&buf)
		w.Write(src)
		w.Close()
		w.Reset(io.Discard)
		gzipWriters.Put(w)
		return buf.Bytes()
	case "br":
		var buf bytes.Buffer
		buf.Grow(len(src) / 3)
		w := brotliWriters.Get().(*brotli.Writer)
		w.Reset(&buf)
		w.Write(src)
		w.Close()
		w.Reset(io.Discard)
		brotliWriters.Put(w)
		return buf.Bytes()
	}
	panic("edge: unknown content coding " + enc)
}

// varyFields is cache.VaryFields for b's responses. When b compresses,
// Accept-Encoding is left out: the key has the coding already, and every
// viewer can take the identity copy.
func (b *behavior) varyFields(h cache.Header) ([]string, bool) {
	fields, star := cache.VaryFields(h)
	if b.compress && slices.Contains(fields, "accept-encoding") {
		fields = slices.DeleteFunc(slices.Clone(fields), func(f string) bool { return f == "accept-encoding" })
		if len(fields) == 0 {
			fields = nil
		}
	}
	return fields, star
}

// fillCoding is the rest of fillFrom for an identity response to be
// compressed (j.key is the identity key): the body is read whole (it is
// at most compressMax), compressed once for every viewer of f, and both
// copies are stored. The viewers get the compressed copy when it is
// complete: a Content-Length cannot go out before.
func (s *Server) fillCoding(f *collapse.Fill, j *fillJob, resp *origin.Response, h cache.Header, fr cache.Freshness, res *fillResult, vary []string) {
	body := make([]byte, resp.ContentLength)
	if _, err := io.ReadFull(resp.Body, body); err != nil {
		f.Fail(fmt.Errorf("read the origin's body: %w", err))
		return
	}
	id := &cache.Object{
		Status: resp.StatusCode, Header: h, Body: body,
		RequestTime: resp.RequestTime, ResponseTime: resp.ResponseTime,
		InitialAge: res.initialAge, Freshness: fr, Tags: res.tags,
	}
	z, _ := compressObject(id, j.enc) // an in-memory body: no error
	if z == nil {
		z = id // not smaller: the identity copy is served
	}
	f.Store(func() {
		s.storeAt(j.idKey, j.facts.Header, id, vary)
		if z != id {
			s.storeAt(j.encKey(), j.facts.Header, z, vary)
		}
	})
	out := &fillResult{obj: z, result: resultMiss, tags: z.Tags, upstream: j.upstreamTiming}
	if len(vary) > 0 {
		out.varyFields, out.variantKey = vary, cache.VariantKey(j.encKey(), vary, j.facts.Header)
	}
	f.Publish(collapse.Head{Status: z.Status, Shareable: true, Meta: out})
	f.Close(nil)
}

// refreshCoding is fillFrom's 304 for a job that revalidated the identity
// copy on behalf of a coding: obj is that copy refreshed. It is stored
// under the identity key, compressed and stored under the coding's key,
// and the compressed copy is what the viewers of f get.
func (s *Server) refreshCoding(f *collapse.Fill, j *fillJob, obj *cache.Object, fr cache.Freshness, vary []string) {
	z := obj
	if fr.Storable && compressible(obj.Status, obj.Header, obj.BodyLen()) {
		if p := j.prev; p != nil && p.File == nil && sameRepresentation(p, obj, j.enc) {
			// The coding's copy was made from this very identity copy: it
			// is kept, with the refreshed header (and no compressing).
			c := *obj
			c.Body, c.File = p.Body, nil
			c.Header = codingHeader(obj.Header, j.enc, int64(len(p.Body)))
			z = &c
		} else if c, err := compressObject(obj, j.enc); err == nil && c != nil {
			z = c
		}
	}
	f.Store(func() {
		if !fr.Storable {
			s.deleteAt(j.idKey, j.facts.Header, vary)
			return
		}
		s.storeAt(j.idKey, j.facts.Header, obj, vary)
		if z != obj {
			s.storeAt(j.encKey(), j.facts.Header, z, vary)
		}
	})
	f.Publish(collapse.Head{Status: z.Status, Shareable: fr.Storable, Meta: s.objectResult(j, z, resultRefreshHit)})
	f.Close(nil)
}

// codingJob prepares a fill job of a compressing behavior. For a coding,
// it notes the keys, and revalidates the identity copy rather than the
// coding's (the origin's 304 then refreshes both, see refreshCoding),
// asking for the identity representation. For the identity request, it
// asks the origin for no coding: what the origin encoded would be stored
// for viewers who take none.
func (s *Server) codingJob(x *exchange, j *fillJob) {
	if x.enc == "" {
		for _, h := range j.headers() {
			delete(h, "Accept-Encoding")
		}
		return
	}
	j.enc, j.idKey = x.enc, string(x.identityKey())
	if j.treq != nil {
		// The next node chooses as this one did.
		j.treq.Header["Accept-Encoding"] = []string{x.enc}
	}
	if j.stale != nil && encoded(j.stale.Header) {
		if id := s.lookupAt(x, x.identityKey()); id != nil && id.Status != 0 && cache.Partial(id) == nil && !encoded(id.Header) {
			j.prev, j.stale = j.stale, id
		}
	}
	if j.stale != nil && !encoded(j.stale.Header) {
		// The identity copy's validators go out: the request is for the
		// identity representation, so that a 304 describes that copy. One
		// asking for the coding would be answered for the coding's
		// representation (a node of another tier answers from its
		// compressed copy), and its weak ETag and Vary would replace the
		// identity copy's (RFC 9111 §4.3.4).
		for _, h := range j.headers() {
			delete(h, "Accept-Encoding")
		}
	}
}

// encKey is the key of the job's coding: the identity key and the coding.
func (j *fillJob) encKey() string { return j.idKey + j.enc }

// sameRepresentation reports whether coded is id compressed with enc by
// this edge: its coding, and id's strong ETag made weak. Without a strong
// ETag it cannot tell, and says no.
func sameRepresentation(coded, id *cache.Object, enc string) bool {
	et := id.Header.Get("Etag")
	return et != "" && !strings.HasPrefix(et, "W/") && coded.Header.Get("Content-Encoding") == enc &&
		coded.Header.Get("Etag") == "W/"+et
}
