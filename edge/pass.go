package edge

import (
	"net/http"
	"net/url"

	"github.com/terncdn/tern/cache"
)

// pass is phases 7-10 for a request the cache does not answer (an unsafe
// method, an uncached method, a behavior with caching disabled, or a key
// recently found uncacheable): the request body streams to the origin and
// the response streams back, neither held in memory.
func (s *Server) pass(x *exchange) {
	r := x.r
	req := s.originRequest(x, r.Method)
	if r.Body != nil && r.Body != http.NoBody {
		req.Body, req.ContentLength = r.Body, r.ContentLength
	}
	// The response goes to this viewer alone: its preconditions and range
	// go to the origin (If-Match on a PUT is what keeps two writers from
	// losing each other's update).
	for _, k := range fillOnlyEdge {
		if v, ok := r.Header[k]; ok {
			req.Header[k] = v
		}
	}
	req.OnEarlyHints = x.earlyHints()
	resp, err := s.client.Do(r.Context(), x.behavior.target, req)
	if err != nil {
		s.observeOriginError(x.dist.id, err)
		s.failOrigin(x, err)
		return
	}
	defer resp.Body.Close()
	x.upstream = timingOf(resp, true)
	if s.metrics != nil {
		s.metrics.ObserveOrigin(x.dist.id, resp.Origin.ID, resp.StatusCode, x.upstream.fbl)
	}
	if !isSafe(r.Method) && resp.StatusCode < 400 {
		s.invalidateAfterUnsafe(x, resp.StatusCode, cache.Header(resp.Header))
	}
	if er := x.dist.errorResponses[resp.StatusCode]; er != nil && !x.errorPage {
		s.errorResponse(x, resp.StatusCode, er)
		return
	}
	h := x.w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	delete(h, "Surrogate-Control")
	if !fromTier(x) {
		delete(h, cache.SurrogateKeyHeader) // cache tags are for caches
		delete(h, cache.CacheTagHeader)
	}
	x.result = resultMiss
	markOriginError(x, resp.StatusCode)
	s.decorate(x, h)
	enc := streamCoding(x, h, resp.StatusCode, resp.ContentLength) // compress_stream.go
	weakenNotModified(x, h, resp.StatusCode)
	if isSafe(r.Method) && answerConditional(x, h, resp.StatusCode) {
		return
	}
	x.w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead || !bodyAllowed(resp.StatusCode) {
		return
	}
	if enc != "" {
		err = streamCompressed(&x.w, resp.Body, enc)
	} else {
		err = streamTo(&x.w, resp.Body)
	}
	if err != nil {
		x.result, x.err, x.errTok = resultError, err, errorToken(err)
		panic(http.ErrAbortHandler)
	}
}

func isSafe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// invalidateAfterUnsafe drops what the cache holds for the target URI and
// for Location / Content-Location on the same host (RFC 9111 §4.4): after a
// successful POST, PUT, PATCH or DELETE, the next GET goes to the origin.
func (s *Server) invalidateAfterUnsafe(x *exchange, status int, h cache.Header) {
	// x.path, not the request's: "/" is stored as the default root object.
	target := &url.URL{Scheme: "http", Host: x.r.Host, Path: x.r.URL.Path, RawPath: x.path}
	if p, err := url.PathUnescape(x.path); err == nil {
		target.Path = p
	}
	for _, p := range cache.InvalidationTargets(x.r.Method, target, status, h) {
		s.invalidate(cache.InvalidationPrefix(x.dist.id, p))
	}
}

// invalidate drops everything stored under prefix and every fetch in flight
// for it: a fetch that started before the invalidation stores nothing, and
// later requests start a new one. The fills go first, so a store racing
// with the invalidation lands before the deletes (collapse.Fill.Store).
func (s *Server) invalidate(prefix string) int {
	s.invalidateFills(prefix)
	return s.store.DeletePrefix(prefix)
}

// invalidateFills makes every fetch in flight under prefix store nothing.
func (s *Server) invalidateFills(prefix string) {
	// Span fills first: one handed to a whole fetch after this either is
	// refused (handOffWhole) or joined that fetch before it is invalidated.
	if s.sliceFills != nil {
		s.sliceFills.Invalidate(prefix)
	}
	s.fills.Invalidate(prefix)
}

// tunnel passes a WebSocket upgrade through to the origin.
func (s *Server) tunnel(x *exchange) {
	req := s.originRequest(x, http.MethodGet)
	x.result = resultMiss
	x.w.Header()[HeaderRequestID] = []string{x.id}
	if err := s.client.Tunnel(refusalWriter{&x.w, s, x}, x.r, x.behavior.target, req); err != nil {
		s.failOrigin(x, err)
	}
	if x.w.status == 0 {
		x.w.status = http.StatusSwitchingProtocols // hijacked: Tunnel wrote the 101
	}
}

// refusalWriter is the viewer's side of a WebSocket upgrade. The origin's
// refusal (any status but 101) goes out through WriteHeader as every
// response does, with the edge's headers and the response headers
// policy; a 101 hijacks the connection (found through Unwrap).
type refusalWriter struct {
	*countingWriter
	s *Server
	x *exchange
}

func (w refusalWriter) WriteHeader(code int) {
	if code >= 200 {
		w.s.decorate(w.x, w.Header())
	}
	w.countingWriter.WriteHeader(code)
}
