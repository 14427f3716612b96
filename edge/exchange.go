package edge

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/terncdn/tern/telemetry"
	"github.com/terncdn/tern/tier"
)

// exchange is one request's state as it moves through the pipeline. It is
// pooled: nothing may keep a pointer to it after finish.
type exchange struct {
	w        countingWriter
	r        *http.Request
	start    time.Time
	id       string
	idValue  []string // the X-Tern-Id header value: [id]
	dist     *distribution
	behavior *behavior
	path     string // request path after the default root object

	key    []byte // primary cache key
	enc    string // the content coding the key ends with, when the edge compresses (compress.go)
	vkey   []byte // variant key, when the stored response varies
	varied bool   // vkey holds this request's variant key
	result result
	detail string // x-edge-detailed-result-type, when it says more than result
	errTok string // X-Tern-Error token
	err    error  // the cause of an error response, for the log

	errorPage bool // this is the internal fetch of a custom error page

	tierHop tier.Hop // the Tern-Tier header of a request from another node

	hints *hintSink // relays 103 Early Hints from this viewer's fetch

	viewer viewer // who sent the request, once viewerOf determined it

	// upstream is what the fetch that answered this request (from the
	// origin or another tier) took, for Server-Timing.
	upstream upstreamTiming

	rec telemetry.Record
}

// result is x-edge-result-type: what the edge did with the request.
type result uint8

const (
	resultMiss result = iota
	resultHit
	resultRefreshHit
	resultError
	resultRedirect
)

// xCache holds the X-Cache values, as shared one-element slices so setting
// the header allocates nothing. Nothing appends to them.
var xCache = [...][]string{
	resultMiss:       {"Miss from tern"},
	resultHit:        {"Hit from tern"},
	resultRefreshHit: {"RefreshHit from tern"},
	resultError:      {"Error from tern"},
	resultRedirect:   {"Redirect from tern"},
}

func (r result) String() string {
	switch r {
	case resultHit:
		return telemetry.ResultHit
	case resultRefreshHit:
		return telemetry.ResultRefreshHit
	case resultError:
		return telemetry.ResultError
	case resultRedirect:
		return telemetry.ResultRedirect
	}
	return telemetry.ResultMiss
}

var exchanges = sync.Pool{New: func() any {
	return &exchange{key: make([]byte, 0, 256), vkey: make([]byte, 0, 256)}
}}

func (s *Server) begin(w http.ResponseWriter, r *http.Request) *exchange {
	x := exchanges.Get().(*exchange)
	x.w = countingWriter{ResponseWriter: w, timed: s.log != nil, x: x}
	x.r = r
	x.start = time.Now()
	x.idValue = s.ids.next()
	x.id = x.idValue[0]
	return x
}

// finish is phase 11: one access log record and the metrics, then the
// exchange goes back to the pool.
func (s *Server) finish(x *exchange) {
	if x.hints != nil {
		x.hints.close()
	}
	if s.log != nil || s.metrics != nil {
		s.account(x)
	}
	*x = exchange{key: x.key[:0], vkey: x.vkey[:0]}
	exchanges.Put(x)
}

func (s *Server) account(x *exchange) {
	r := x.r
	rec := &x.rec
	// What the metrics need first; the rest of the record only for the log.
	rec.Status = x.w.status
	if rec.Status == 0 {
		rec.Status = http.StatusOK
	}
	rec.ScBytes = x.w.bytes
	if x.w.status != 0 {
		rec.ScBytes += headerSize(x.w.Header())
	}
	rec.CsBytes = r.ContentLength
	if rec.CsBytes < 0 {
		rec.CsBytes = 0
	}
	rec.EdgeResultType = x.result.String()
	rec.ProtocolVersion = r.Proto
	if x.dist != nil {
		rec.Distribution = x.dist.id
	}
	if s.metrics != nil {
		s.metrics.Observe(rec)
	}
	if s.log == nil {
		return
	}

	rec.Time = x.start
	rec.EdgeLocation = s.pop
	v := s.viewerOf(x)
	rec.ClientIP, rec.ClientPort = v.ip, v.port
	rec.Method = r.Method
	rec.URIStem = r.URL.EscapedPath()
	rec.Referer = r.Header.Get("Referer")
	rec.UserAgent = r.Header.Get("User-Agent")
	rec.Query = r.URL.RawQuery
	rec.Cookie = r.Header.Get("Cookie")
	rec.ResponseResultType = rec.EdgeResultType
	rec.RequestID = x.id
	rec.HostHeader = r.Host
	rec.Host = r.Host
	rec.Protocol = "http"
	if r.TLS != nil {
		rec.Protocol = "https"
	}
	if isWebSocket(r) {
		rec.Protocol = "ws"
		if r.TLS != nil {
			rec.Protocol = "wss"
		}
	}
	if r.TLS != nil {
		rec.SSLProtocol, rec.SSLCipher = tlsLogFields(r.TLS)
	}
	rec.TimeTaken = time.Since(x.start)
	rec.ForwardedFor = r.Header.Get("X-Forwarded-For")
	if !x.w.firstByte.IsZero() {
		rec.TimeToFirstByte = x.w.firstByte.Sub(x.start)
	}
	rec.DetailedResultType = x.detail
	if rec.DetailedResultType == "" {
		rec.DetailedResultType = rec.EdgeResultType
	}
	h := x.w.Header()
	rec.ContentType = h.Get("Content-Type")
	rec.ContentLength = -1
	if cl := h.Get("Content-Length"); cl != "" {
		rec.ContentLength, _ = strconv.ParseInt(cl, 10, 64)
	}
	rec.RangeStart, rec.RangeEnd = -1, -1
	if cr := h.Get("Content-Range"); cr != "" {
		rec.RangeStart, rec.RangeEnd = parseContentRange(cr)
	}
	s.log.Log(rec)
}

// parseContentRange reads "bytes 0-99/1000" for the log's range fields.
func parseContentRange(v string) (int64, int64) {
	v = strings.TrimPrefix(v, "bytes ")
	dash := strings.IndexByte(v, '-')
	slash := strings.IndexByte(v, '/')
	if dash < 0 || slash < dash {
		return -1, -1
	}
	a, err1 := strconv.ParseInt(v[:dash], 10, 64)
	b, err2 := strconv.ParseInt(v[dash+1:slash], 10, 64)
	if err1 != nil || err2 != nil {
		return -1, -1
	}
	return a, b
}

// decorate adds the headers every response from the edge carries. The
// values are shared slices where they can be (nothing appends to a
// response header's values), so a hit allocates only its request id.
func (s *Server) decorate(x *exchange, h http.Header) {
	h[HeaderCache] = xCache[x.result]
	if via := h["Via"]; len(via) > 0 {
		h["Via"] = []string{strings.Join(via, ", ") + ", " + s.via}
	} else {
		h["Via"] = s.viaValue
	}
	h[HeaderRequestID] = x.idValue
	h[HeaderPOP] = s.popValue
	if x.errTok != "" {
		h[HeaderError] = []string{x.errTok}
	}
	s.advertiseHTTP3(x.r, h)
}

// countingWriter counts what reaches the viewer, for sc-bytes and
// time-to-first-byte. http.ResponseController finds the connection's
// Flusher and Hijacker through Unwrap.
type countingWriter struct {
	http.ResponseWriter
	timed     bool // record firstByte: the access log reads it (the clock is not free)
	firstByte time.Time
	status    int
	bytes     int64
	// policy is the behavior's response headers policy, applied to the
	// head of the final response as it goes out (nil: none); x is the
	// exchange this writer belongs to.
	policy *headerPolicy
	x      *exchange
}

func (c *countingWriter) WriteHeader(code int) {
	if c.status == 0 && code >= 200 {
		c.status = code
		if c.policy != nil {
			c.policy.apply(c.x, c.ResponseWriter.Header())
		}
		if c.timed {
			c.firstByte = time.Now()
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	n, err := c.ResponseWriter.Write(p)
	c.bytes += int64(n)
	return n, err
}

// ReadFrom passes a body to the connection's own ReadFrom, which sends a
// file with sendfile, and counts it.
func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	var n int64
	var err error
	if rf, ok := c.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(onlyWriter{c.ResponseWriter}, r)
	}
	c.bytes += n
	return n, err
}

// onlyWriter hides every method but Write, so io.Copy cannot loop back
// into ReadFrom.
type onlyWriter struct{ io.Writer }

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// headerSize estimates the bytes of a response head on the wire.
func headerSize(h http.Header) int64 {
	n := int64(len("HTTP/1.1 200 OK\r\n\r\n"))
	for k, vs := range h {
		for _, v := range vs {
			n += int64(len(k) + len(v) + 4)
		}
	}
	return n
}

// requestIDs makes X-Tern-Id values: unique across nodes and restarts
// (a random 64-bit prefix drawn at start) and cheap (a counter after it).
type requestIDs struct {
	prefix [8]byte
	n      atomic.Uint64
}

func (g *requestIDs) init() {
	_, _ = rand.Read(g.prefix[:])
}

// requestID is one id with the one-element slice a header map holds, in
// a single allocation.
type requestID struct {
	value [1]string
	text  [22]byte // base64 of 16 bytes, unpadded
}

// next returns a new id as a header value; value[0] is the id as a string.
func (g *requestIDs) next() []string {
	var raw [16]byte
	copy(raw[:8], g.prefix[:])
	binary.BigEndian.PutUint64(raw[8:], g.n.Add(1))
	id := new(requestID)
	base64.RawURLEncoding.Encode(id.text[:], raw[:])
	// The string shares id.text, which is never written again.
	id.value[0] = unsafe.String(&id.text[0], len(id.text))
	return id.value[:]
}

func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
