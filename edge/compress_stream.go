package edge

import (
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/terncdn/tern/cache"
	"github.com/terncdn/tern/collapse"
)

// This file is compression of responses as they stream through the edge:
// those it does not cache (a pass: caching disabled, an unsafe method, a
// key recently found unstorable; a fetch whose response may not be
// stored) and those whose body it cannot compress whole before sending
// (no Content-Length, or larger than the memory tier). CloudFront's
// conditions for compression are about the response (type, size, status,
// coding), not about whether it is cached; its Managed-CachingDisabled
// policy enables no coding, so with it nothing is compressed, and the same
// holds here (behavior.compress is false). Tern compresses under the
// conditions of compressible, except that a body of unknown length is
// compressed (CloudFront sends it uncompressed; here no copy is made
// first, so nothing needs the length).
//
// The body is compressed chunk by chunk as the origin sends it, and each
// chunk is flushed to the viewer (a sync flush of the coding) before the
// next is read, as streamTo does for identity: a long poll or a stream of
// JSON lines reaches the viewer as the origin writes it. A viewer's Range
// request is not compressed (the origin's 206 or 200 goes out as it is):
// a range of a coding the edge makes on the fly has no stable bytes.

// Streaming levels. A cached copy is made once and served many times; a
// stream is compressed for each viewer, so its cost is per response.
// Chosen with BenchmarkCompressStream (64 KiB of JavaScript in 4 KiB and
// 32 KiB chunks, each flushed; CPU time per byte, so per core): gzip 1
// runs at 50-70 MB/s for 43-39% of the size, gzip 6 at 15-17 MB/s for
// 34-33%; Brotli 3 at 47-58 MB/s for 37-35%, where Brotli 1, twice as
// fast, falls to 48% when chunks are small and Brotli 5 runs at 17-23
// MB/s; zstd's fastest level at about 150 MB/s for 39-37%, its default at
// 100 MB/s for 36-35% in four times the memory (1.5 MB an encoder instead
// of 0.4 MB, BenchmarkStreamEncoderNew), which counts for a long poll
// holding its encoder.
const (
	gzipStreamLevel   = 1
	brotliStreamLevel = 3
	zstdStreamLevel   = zstd.SpeedFastest
)

// Stream windows: an encoder lives as long as its response, and a long
// poll can hold one for minutes, so each keeps a small window (Brotli
// 2^18, zstd 256 KiB) instead of the default megabytes.
const (
	brotliStreamWindow = 18
	zstdStreamWindow   = 256 << 10
)

// maxCompressedStreams bounds the responses compressed as they stream at
// once: each holds an encoder (0.35-0.8 MB, BenchmarkStreamEncoderNew)
// for as long as it is open, and a long poll can stay open for minutes,
// so ten thousand of them would hold gigabytes. Past the bound a
// response goes out uncompressed (correct, only larger), as CloudFront
// sends identity when it is busy. 256 per core: at most about 200 MB of
// encoders per core.
var maxCompressedStreams = int64(256 * runtime.GOMAXPROCS(0))

// compressedStreams counts the responses being compressed as they stream.
// The bound is checked when a response's head is decided and counted when
// its body starts, so a burst can pass it by the heads decided in between.
var compressedStreams atomic.Int64

// streamEncoder is a gzip, Brotli or zstd writer: each of the three has
// these methods.
type streamEncoder interface {
	io.WriteCloser
	Flush() error
	Reset(io.Writer)
}

// streamEncoders pools the encoders per coding: each holds hundreds of KiB
// of state, too much to allocate per response.
var streamEncoders = map[string]*sync.Pool{
	"gzip": {New: func() any {
		w, _ := gzip.NewWriterLevel(io.Discard, gzipStreamLevel)
		return streamEncoder(w)
	}},
	"br": {New: func() any {
		return streamEncoder(brotli.NewWriterOptions(io.Discard, brotli.WriterOptions{Quality: brotliStreamLevel, LGWin: brotliStreamWindow}))
	}},
	"zstd": {New: func() any {
		// One goroutine: the encoder works in the handler's, so a flush
		// is done when Flush returns.
		w, err := zstd.NewWriter(io.Discard, zstd.WithEncoderLevel(zstdStreamLevel), zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(zstdStreamWindow), zstd.WithEncoderCRC(true), zstd.WithLowerEncoderMem(true))
		if err != nil {
			panic(err)
		}
		return streamEncoder(w)
	}},
}

// streamCoding decides whether a response that streams to viewer x is to
// be compressed, and if so makes h its compressed head (Content-Encoding,
// no Content-Length, no Accept-Ranges, a weak ETag, Accept-Encoding among
// the Vary fields) and returns the coding. size is the body's length, -1
// when unknown. h's values may be shared with other viewers (a fill's
// head): they are replaced, never written into.
func streamCoding(x *exchange, h http.Header, status int, size int64) string {
	if !x.behavior.compress {
		return ""
	}
	if _, ranged := x.r.Header["Range"]; ranged {
		return ""
	}
	enc := x.behavior.key.Encoding(x.r.Header["Accept-Encoding"])
	if streamEncoders[enc] == nil {
		return "" // identity ("")
	}
	if compressedStreams.Load() >= maxCompressedStreams {
		return "" // too many open: this one goes out as it came
	}
	if size < 0 {
		size = compressMin // unknown: compressed, whatever it turns out to be
	}
	if !compressible(status, cache.Header(h), size) {
		return ""
	}
	h["Content-Encoding"] = []string{enc}
	delete(h, "Content-Length")
	delete(h, "Accept-Ranges")
	if et := h.Get("Etag"); et != "" && !strings.HasPrefix(et, "W/") {
		h["Etag"] = []string{"W/" + et}
	}
	if fields, star := cache.VaryFields(cache.Header(h)); !star && !containsFold(fields, "accept-encoding") {
		v := h["Vary"]
		h["Vary"] = append(v[:len(v):len(v)], "Accept-Encoding")
	}
	return enc
}

// weakenNotModified gives a 304 passed from the origin the weak ETag of
// the compressed response the viewer holds: a viewer that revalidates
// W/"x" (what streamCoding sent it) through a pass gets the origin's 304
// with "x", which matches no response the viewer stored and so updates
// nothing (RFC 9111 §4.3.4). Only when the viewer asked with W/"x".
func weakenNotModified(x *exchange, h http.Header, status int) {
	if status != http.StatusNotModified || !x.behavior.compress {
		return
	}
	et := h.Get("Etag")
	if et == "" || strings.HasPrefix(et, "W/") {
		return
	}
	if inm := x.r.Header["If-None-Match"]; len(inm) > 0 && strings.Contains(strings.Join(inm, ","), "W/"+et) {
		h["Etag"] = []string{"W/" + et}
	}
}

// streamCompressed is streamTo through an encoder for enc: each chunk read
// from src is compressed and flushed to the viewer before the next read.
func streamCompressed(w *countingWriter, src io.Reader, enc string) error {
	compressedStreams.Add(1)
	defer compressedStreams.Add(-1)
	pool := streamEncoders[enc]
	z := pool.Get().(streamEncoder)
	z.Reset(w)
	defer func() {
		z.Reset(io.Discard) // let go of the viewer's writer
		pool.Put(z)
	}()
	return streamThrough(w, src, z)
}

// serveCodingStale serves a request for a coding whose key holds no usable
// copy from id, the identity copy, stale but within stale-while-revalidate
// (RFC 5861 §3): compressed now, and refreshed behind the response, as a
// stale hit of the coding's own copy is. The one viewer that starts the
// refresh also stores the compressed stale copy, so the viewers after it
// hit that instead of compressing again; the refresh replaces it. It
// reports false, having written nothing, when id cannot be read (a disk
// tier found it corrupt) and a refresh is in flight: the caller joins it.
func (s *Server) serveCodingStale(x *exchange, id *cache.Object) bool {
	f, leader := s.fills.Join(x.joinKey())
	if !leader {
		// A refresh is in flight, started by a viewer that stored the
		// compressed stale copy (unless it did not get smaller).
		if c := s.lookupAt(x, x.key); c != nil && c.Status != 0 && cache.Partial(c) == nil && !mustRevalidate(c, x.start) {
			x.result, x.detail = resultHit, "StaleWhileRevalidateHit"
			s.respondObject(x, c, x.start)
			return true
		}
		obj, err := compressObject(id, x.enc)
		if err != nil {
			return false
		}
		if obj == nil {
			obj = id // not smaller: the identity copy is served
		}
		x.result, x.detail = resultHit, "StaleWhileRevalidateHit"
		s.respondObject(x, obj, x.start)
		return true
	}
	// Read again under the fill: a purge before Join has removed it, and
	// the compressed copy must not bring it back (the fill's Store and a
	// purge's Group.Invalidate are serialised).
	id = s.lookupAt(x, x.identityKey())
	if id == nil || id.Status == 0 || cache.Partial(id) != nil || id.Usability(x.start, noRequestDirectives) != cache.StaleWhileRevalidate ||
		!compressible(id.Status, id.Header, id.BodyLen()) {
		s.leadFill(x, f, nil) // it changed meanwhile: fetch, as a miss
		return true
	}
	obj, err := compressObject(id, x.enc)
	if err != nil {
		s.leadFill(x, f, nil) // a disk tier found it corrupt and dropped it
		return true
	}
	if obj == nil {
		obj = id
	} else {
		vary, _ := x.behavior.varyFields(id.Header)
		f.Store(func() { s.storeAt(string(x.key), cache.Header(x.r.Header), obj, vary) })
	}
	go s.runFill(f, s.newFillJob(x, id))
	x.result, x.detail = resultHit, "StaleWhileRevalidateHit"
	s.respondObject(x, obj, x.start)
	return true
}

// leadFill is fetch for a viewer that is already the leader of fill f:
// it starts the fetch and answers from it.
func (s *Server) leadFill(x *exchange, f *collapse.Fill, stale *cache.Object) {
	var early *collapse.Reader
	if x.r.Method == http.MethodGet {
		early, _ = f.NewReader(0)
	}
	j := s.newFillJob(x, stale)
	j.req.OnEarlyHints = x.earlyHints()
	go s.runFill(f, j)
	s.followFill(x, f, true, early)
}
