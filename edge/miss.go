package edge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/terncdn/tern/cache"
	"github.com/terncdn/tern/collapse"
	"github.com/terncdn/tern/origin"
	"github.com/terncdn/tern/tier"
)

// passMarkerTTL is how long a key whose response was not storable is served
// without collapsing (Varnish's hit-for-miss): viewers of an uncacheable
// URL then go to the origin side by side instead of queueing.
const passMarkerTTL = 2 * time.Minute

// fillResult is what a fetch tells the viewers waiting on it (the Meta of
// the fill's head).
type fillResult struct {
	// obj, when set, is a complete stored object to serve as it is: the
	// stale one refreshed by a 304, or the stale one served because the
	// origin failed. The fill carries no body then.
	obj    *cache.Object
	result result
	detail string
	errTok string
	err    error

	initialAge   time.Duration
	growing      *growing  // a large body's file as it is written, for late joiners
	responseTime time.Time // with initialAge: Age for viewers who join late (RFC 9111 §4.2.3)
	// variantKey is the key the response is stored under when it varies;
	// a viewer whose request selects another variant fetches on its own.
	varyFields []string
	variantKey string
	// tags are the response's cache tags (cache.Object.Tags), handed on
	// to viewers from another tier and matched by purges of fills.
	tags []string
	// upstream is what the fetch took, for Server-Timing.
	upstream upstreamTiming
}

// fillJob is everything a fetch needs, copied out of the viewer request
// that started it: the fetch outlives that viewer if it leaves.
type fillJob struct {
	dist  *distribution
	b     *behavior
	key   string
	req   *origin.Request
	facts cache.RequestFacts // the viewer's request: variants are keyed on it
	// storeFacts is what storability sees: facts less an Authorization
	// header that was not forwarded.
	storeFacts cache.RequestFacts
	stale      *cache.Object
	// enc is the coding the edge compresses to for this fetch, and idKey
	// the key of the identity copy (compress.go); "" when it does not.
	// prev is the coding's stale copy when stale is the identity copy.
	enc, idKey string
	prev       *cache.Object

	// Tiered caching (tier.go): the nodes to try before the origin, the
	// request they get, the Tern-Tier header it came with, and which
	// upstream answered (a telemetry.Upstream* value).
	tiers    []tierStop
	treq     *origin.Request
	hop      tier.Hop
	upstream string
	// upstreamTiming is what the fetch took, once upstream answered.
	upstreamTiming upstreamTiming
}

// headers are the headers of every request the job may send: the
// origin's, and the tier request's.
func (j *fillJob) headers() []http.Header {
	if j.treq == nil {
		return []http.Header{j.req.Header}
	}
	return []http.Header{j.req.Header, j.treq.Header}
}

// cloneRequests gives j requests of its own, so that changing their
// headers leaves the job it was copied from alone.
func (j *fillJob) cloneRequests() {
	req := *j.req
	req.Header = j.req.Header.Clone()
	j.req = &req
	if j.treq != nil {
		treq := *j.treq
		treq.Header = j.treq.Header.Clone()
		j.treq = &treq
	}
}

// fillOnlyEdge are the viewer fields a fill never forwards.
var fillOnlyEdge = [...]string{"Range", "If-Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since"}

func (s *Server) newFillJob(x *exchange, stale *cache.Object) *fillJob {
	method := http.MethodGet // HEAD misses fetch the whole object, so it can be stored
	if x.r.Method == http.MethodOptions {
		method = http.MethodOptions
	}
	j := &fillJob{
		dist:  x.dist,
		b:     x.behavior,
		key:   string(x.key),
		req:   s.originRequest(x, method),
		facts: cache.RequestFacts{Method: method, Header: viewerFacts(x.r.Header)},
		stale: stale,
	}
	if j.tiers = s.tierPlan(x, j.key); len(j.tiers) > 0 {
		j.treq, j.hop = s.tierRequest(x, method), x.tierHop
	}
	if x.behavior.compress {
		s.codingJob(x, j)
	}
	// A fill fetches the whole object for everyone waiting on it: no one
	// viewer's range or validators go out on it (the edge answers those
	// itself), only the edge's own validators for its stale copy.
	for _, k := range fillOnlyEdge {
		delete(j.req.Header, k)
	}
	// RFC 9111 §3.5 is about the request the cache forwarded: an
	// Authorization header the policies keep from the origin cannot shape
	// the response, so it does not stop it from being stored.
	j.storeFacts = j.facts
	_, viewerAuth := j.facts.Header["Authorization"]
	if _, sent := j.req.Header["Authorization"]; viewerAuth && !sent {
		j.storeFacts.Header = cache.Header(http.Header(j.facts.Header).Clone())
		delete(j.storeFacts.Header, "Authorization")
	}
	if j.stale != nil {
		// RFC 9111 §4.3.1: ask the origin whether the stored response is
		// still good.
		for _, h := range j.headers() {
			cache.ValidatorRequestHeaders(j.stale, cache.Header(h))
		}
	}
	return j
}

// viewerFacts is the viewer's header as storability sees it: the viewer's
// own Cache-Control and Pragma do not decide what the CDN stores (see
// noRequestDirectives); Authorization and the Vary fields do.
func viewerFacts(h http.Header) cache.Header {
	c := cache.Header(h.Clone())
	delete(c, "Cache-Control")
	delete(c, "Pragma")
	return c
}

// originRequest builds what goes to the origin for this viewer request:
// only what the behavior's policies name (CloudFront's model).
func (s *Server) originRequest(x *exchange, method string) *origin.Request {
	r, b := x.r, x.behavior
	req := &origin.Request{}
	var ae string
	if b.key.AcceptsEncodings() {
		ae = b.key.Encoding(r.Header["Accept-Encoding"])
	}
	v := s.viewerOf(x)
	b.forward.Apply(r, v.ip, ae, req)
	if v.forwardedFor != "" {
		req.Header["X-Forwarded-For"] = []string{v.forwardedFor}
	}
	keepEdgeCloudFront(req.Header, b)
	// The pipeline decides these, not the viewer: a HEAD miss fetches with
	// GET so the object can be stored, and the path may be the default
	// root object or a custom error page. pass attaches the viewer's body.
	req.Method, req.Path = method, x.path
	req.Body, req.ContentLength = nil, 0
	delete(req.Header, tier.Header) // between Tern nodes only
	delete(req.Header, tier.AuthHeader)
	return req
}

// fetch is phases 6-10 for a miss or a stale object: join (or start) the one
// fetch for this key, then answer from what it brings.
func (s *Server) fetch(x *exchange, stale *cache.Object) {
	f, leader := s.fills.Join(x.joinKey())
	// Attach a reader before waiting on the head: a body beyond the memory
	// tier's limit streams through a window, and a viewer that attached
	// only after the head could find the start already gone.
	var early *collapse.Reader
	if x.r.Method == http.MethodGet {
		early, _ = f.NewReader(0)
	}
	if leader {
		j := s.newFillJob(x, stale)
		j.req.OnEarlyHints = x.earlyHints()
		go s.runFill(f, j)
	} else if s.metrics != nil {
		s.metrics.ObserveCollapsed(x.dist.id)
	}
	s.followFill(x, f, leader, early)
}

// followFill answers x from fill f once its head is in; leader is whether
// x's request started the fetch. early, if not nil, is a reader of f from
// offset 0, attached before the fetch could pass its start.
func (s *Server) followFill(x *exchange, f *collapse.Fill, leader bool, early *collapse.Reader) {
	defer func() {
		if early != nil {
			early.Close()
		}
	}()
	head, err := f.Head(x.r.Context())
	if err != nil {
		if x.r.Context().Err() != nil {
			x.result, x.err = resultError, err // the viewer left
			if leader {
				// The fetch goes on without its viewer (what it brings
				// may be stored), and this handler waits for its head
				// all the same. An HTTP/2 stream counts against the
				// connection's max_concurrent_streams until its handler
				// returns: if a reset stream's handler returned at once,
				// a viewer opening and resetting streams (CVE-2023-44487)
				// would keep any number of origin requests in flight
				// over one connection. The fetch ends on its own
				// timeouts.
				f.Head(context.Background())
			}
			return
		}
		s.failOrigin(x, err)
		return
	}
	s.answerFill(x, f, head, leader, &early)
}

// answerFill answers x from the fill it joined, once the head is in: a
// stored object the fill settled on, or the body as it arrives.
func (s *Server) answerFill(x *exchange, f *collapse.Fill, head collapse.Head, leader bool, early **collapse.Reader) {
	drop := func() {
		if *early != nil {
			(*early).Close()
			*early = nil
		}
	}
	res := head.Meta.(*fillResult)
	x.upstream = res.upstream
	if !leader {
		if !head.Shareable {
			drop()
			s.pass(x) // a response for one viewer is not handed to another
			return
		}
		if res.variantKey != "" && !x.sameVariant(res) {
			drop()
			s.pass(x) // the fetch brings another variant than this viewer asked for
			return
		}
	}
	if res.obj != nil {
		drop()
		x.result, x.detail, x.errTok, x.err = res.result, res.detail, res.errTok, res.err
		s.respondObject(x, res.obj, time.Now())
		return
	}
	// The viewer that started the fetch missed; the ones that joined it are
	// served from the object entering the cache and caused no origin
	// request, so they are hits (as nginx's cache lock waiters are).
	x.result = resultMiss
	if !leader {
		x.result = resultHit
	}
	s.respondFill(x, f, head, res, early)
}

// joinKey is the key viewers collapse on: the variant when it is known
// (the key's responses vary and a vary marker said on what), else the key.
func (x *exchange) joinKey() string {
	if x.varied {
		return string(x.vkey)
	}
	return string(x.key)
}

// hintSink relays 103 Early Hints from a fetch to the viewer that started
// it. The fetch may outlive that viewer's handler (and the pooled exchange),
// so the sink is its own object, closed when the handler returns.
type hintSink struct {
	mu     sync.Mutex
	w      *countingWriter
	closed bool
}

func (h *hintSink) relay(hints http.Header) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.w.status != 0 {
		return
	}
	out := h.w.Header()
	for k, v := range hints {
		out[k] = v
	}
	h.w.ResponseWriter.WriteHeader(http.StatusEarlyHints)
	for k := range hints {
		delete(out, k)
	}
}

// close stops relaying; after it returns the sink never touches the writer.
func (h *hintSink) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
}

// earlyHints gives x a hint relay, closed when x finishes.
func (x *exchange) earlyHints() func(http.Header) {
	if x.hints == nil {
		x.hints = &hintSink{w: &x.w}
	}
	return x.hints.relay
}

// refreshInBackground revalidates obj without keeping any viewer waiting
// (RFC 5861 stale-while-revalidate). If a fetch for the key is already in
// flight it does nothing.
func (s *Server) refreshInBackground(x *exchange, obj *cache.Object) {
	f, leader := s.fills.Join(x.joinKey())
	if !leader {
		return
	}
	j := s.newFillJob(x, obj)
	go s.runFill(f, j)
}

// runFill fetches from upstream (a peer, a shield or the origin) for
// everyone joined on f, stores what may be stored, and ends f. It runs
// detached from any viewer's context.
func (s *Server) runFill(f *collapse.Fill, j *fillJob) {
	resp, err := s.fetchUpstream(j)
	if err != nil {
		s.observeOriginError(j.dist.id, err)
		if j.stale != nil && staleOnError(j.stale, time.Now(), 0) {
			s.publishStale(f, j, err)
			return
		}
		f.Fail(err)
		return
	}
	s.fillFrom(f, j, resp)
}

// fillFrom is runFill once the origin has answered: it publishes resp to
// the viewers of f, stores what may be stored, and ends f.
func (s *Server) fillFrom(f *collapse.Fill, j *fillJob, resp *origin.Response) {
	defer resp.Body.Close()
	s.observeOrigin(j, resp)
	h := cache.Header(resp.Header)

	if j.stale != nil {
		switch {
		case resp.StatusCode == http.StatusNotModified:
			// RFC 9111 §4.3.4: the stored response, freshened by the 304.
			merged := cache.UpdatedHeader(j.stale.Header, h)
			fr := cache.Evaluate(j.storeFacts, j.stale.Status, merged, j.b.ttl, resp.ResponseTime)
			obj := cache.Updated(j.stale, h, resp.RequestTime, resp.ResponseTime, fr)
			if obj == nil {
				// The 304 does not select the stored response (§4.3.4):
				// ask again without conditions.
				resp.Body.Close()
				s.runFill(f, j.unconditional())
				return
			}
			// A 304 that names tags replaces the stored ones (its header
			// fields update the stored response's, §4.3.4); one that names
			// none keeps them.
			if tags, present := takeTags(obj.Header, j.key); present {
				obj.Tags = tags
			}
			vary, _ := j.b.varyFields(obj.Header)
			if j.enc != "" && !encoded(j.stale.Header) {
				s.refreshCoding(f, j, obj, fr, vary) // the identity copy, refreshed: compress it
				return
			}
			f.Store(func() {
				if fr.Storable {
					s.storeObject(j, obj, vary)
				} else {
					// The 304 made the response unstorable (no-store,
					// private): it must not stay to be served stale.
					s.deleteObject(j, vary)
				}
			})
			res := s.objectResult(j, obj, resultRefreshHit)
			f.Publish(collapse.Head{Status: obj.Status, Shareable: fr.Storable, Meta: res})
			f.Close(nil)
			return
		case resp.StatusCode >= 500 && staleOnError(j.stale, time.Now(), resp.StatusCode):
			// RFC 5861 §4 stale-if-error: keep the content up.
			s.publishStale(f, j, &originStatusError{status: resp.StatusCode})
			return
		}
	}

	if j.enc != "" && !encoded(h) {
		// Not encoded by the origin: the identity copy, kept under the
		// identity key for every coding to be made from (compress.go).
		j.key = j.idKey
	}
	fr := cache.Evaluate(j.storeFacts, resp.StatusCode, h, j.b.ttl, resp.ResponseTime)
	if resp.StatusCode == http.StatusPartialContent || resp.StatusCode == http.StatusNotModified {
		fr.Storable, fr.Reason = false, "status"
	}
	// A body larger than the memory tier takes is still shared by the
	// viewers of this fetch (Storable); it is just not kept afterwards
	// (the fill does not retain it, so Complete has nothing to store).
	// RFC 9111 §3.1 and §5.2.2.7: hop-by-hop fields and those named by
	// private="..." are never stored; Surrogate-Control is for us, not for
	// viewers.
	cache.RemoveUnstorableFields(h)
	cache.StripPrivateFields(h, cache.EffectiveDirectives(h))
	delete(h, "Surrogate-Control")
	// Cache tags are kept beside the header, not in it (viewers never see
	// them, and a hit has nothing to remove).
	tags, _ := takeTags(h, j.key)
	// From Publish on, h is read by every viewer of the fill and then by
	// every hit: it is never written again.
	clipHeader(h)

	res := &fillResult{result: resultMiss, initialAge: cache.InitialAge(h, resp.RequestTime, resp.ResponseTime), responseTime: resp.ResponseTime, tags: tags,
		upstream: j.upstreamTiming}
	vary, star := j.b.varyFields(h)
	if star {
		fr.Storable, fr.Reason = false, "vary *"
	}
	if len(vary) > 0 {
		res.varyFields = vary
		res.variantKey = cache.VariantKey(j.key, vary, j.facts.Header)
	}
	if j.enc != "" && j.key == j.idKey && fr.Storable && resp.ContentLength <= s.maxObject &&
		compressible(resp.StatusCode, h, resp.ContentLength) {
		s.fillCoding(f, j, resp, h, fr, res, vary)
		return
	}
	// A body too large for memory goes to disk as it streams; viewers who
	// join after its start left the fill's window read the file as it grows.
	large, marker := s.largeBody(j, resp, h, fr, res, vary)
	if large != nil {
		if p, ok := large.(interface{ Path() string }); ok && p.Path() != "" {
			res.growing = newGrowing(p.Path())
		}
	}
	f.Publish(collapse.Head{Status: resp.StatusCode, Header: http.Header(h), Shareable: fr.Storable, ContentLength: resp.ContentLength, Meta: res})
	if large != nil {
		s.fillLarge(f, j, resp, large, marker, res.growing)
		return
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close(err)
		return
	}
	// Whatever is stored goes in before the viewers of this fill see the
	// end of the body, so their next requests find it (Fill.Complete).
	if !fr.Storable {
		// The new response replaces the stored one, and may not be stored
		// itself: leave a hit-for-pass marker in its place (under the
		// variant, when the key's responses vary, so the others stay).
		f.Store(func() {
			marker := &cache.Object{ResponseTime: resp.ResponseTime, Freshness: cache.Freshness{Lifetime: s.passMarkerTTL, Reason: fr.Reason}}
			if old, ok := s.store.Get(j.key); ok && old.Vary != nil {
				s.store.Set(cache.VariantKey(j.key, old.Vary, j.facts.Header), marker)
			} else {
				s.store.Set(j.key, marker)
			}
		})
		f.Close(nil)
		return
	}
	f.Complete(func(body []byte) {
		s.storeObject(j, &cache.Object{
			Status:       resp.StatusCode,
			Header:       h,
			Body:         body,
			RequestTime:  resp.RequestTime,
			ResponseTime: resp.ResponseTime,
			InitialAge:   res.initialAge,
			Freshness:    fr,
			Tags:         tags,
		}, vary)
	})
}

// largeBody starts storing a body too large for the memory tier in the
// body store (a disk tier), or returns nil when it will not be stored. When
// the response varies, marker is the vary marker for the primary key.
func (s *Server) largeBody(j *fillJob, resp *origin.Response, h cache.Header, fr cache.Freshness, res *fillResult, vary []string) (w cache.BodyWriter, marker *cache.Object) {
	if s.bodies == nil || !fr.Storable || resp.ContentLength <= s.maxObject || resp.ContentLength > s.bodiesMax {
		return nil, nil
	}
	key := j.key
	if len(vary) > 0 {
		key = res.variantKey
	}
	meta := &cache.Object{
		Status: resp.StatusCode, Header: h, RequestTime: resp.RequestTime, ResponseTime: resp.ResponseTime,
		InitialAge: res.initialAge, Freshness: fr, Tags: res.tags,
	}
	w, err := s.bodies.Create(key, meta, resp.ContentLength)
	if err != nil {
		return nil, nil // declined: it streams through
	}
	if len(vary) > 0 {
		marker = &cache.Object{Vary: vary, ResponseTime: resp.ResponseTime, InitialAge: res.initialAge, Freshness: fr}
	}
	return w, marker
}

// fillLarge streams a large body to the viewers of f and to the body
// store. If every viewer leaves, the download goes on for the store: it is
// being cached. The object becomes visible when complete, unless the fill
// was invalidated meanwhile.
func (s *Server) fillLarge(f *collapse.Fill, j *fillJob, resp *origin.Response, w cache.BodyWriter, marker *cache.Object, g *growing) {
	t := &tee{f: f, w: w, g: g}
	_, err := io.Copy(t, resp.Body)
	// Viewers leaving (ErrAbandoned) is no failure for the store.
	viewersOK := t.fillErr == nil || errors.Is(t.fillErr, collapse.ErrAbandoned)
	if err == nil && viewersOK && t.diskErr == nil {
		var commitErr error
		stored := f.Store(func() {
			if commitErr = w.Commit(); commitErr == nil && marker != nil {
				s.store.Set(j.key, marker)
			}
		})
		if !stored || commitErr != nil {
			w.Abort()
		}
		g.finish(nil) // the file was complete before Commit, whatever became of it
		f.Close(nil)
		return
	}
	g.finish(errors.Join(err, t.diskErr, io.ErrUnexpectedEOF))
	w.Abort()
	if err == nil {
		err = t.fillErr
	}
	if err == nil || errors.Is(err, collapse.ErrAbandoned) {
		err = t.diskErr
	}
	f.Close(err)
}

// tee writes to a fill and a body store. A viewerless fill (abandoned) or
// a failing store does not stop the other; only both do.
type tee struct {
	f                *collapse.Fill
	w                cache.BodyWriter
	g                *growing // nil without a file to follow
	fillErr, diskErr error
}

func (t *tee) Write(p []byte) (int, error) {
	if t.fillErr == nil {
		_, t.fillErr = t.f.Write(p)
		if t.fillErr != nil && !errors.Is(t.fillErr, collapse.ErrAbandoned) {
			return 0, t.fillErr
		}
	}
	if t.diskErr == nil {
		var n int
		n, t.diskErr = t.w.Write(p)
		t.g.wrote(int64(n))
		if t.diskErr != nil {
			t.g.finish(t.diskErr)
		}
	}
	if t.fillErr != nil && t.diskErr != nil {
		return 0, t.diskErr
	}
	return len(p), nil
}

// deleteObject removes the job's object: its variant when it varies.
func (s *Server) deleteObject(j *fillJob, vary []string) {
	s.deleteAt(j.key, j.facts.Header, vary)
}

func (s *Server) deleteAt(key string, req cache.Header, vary []string) {
	if len(vary) == 0 {
		s.store.Delete(key)
		return
	}
	s.store.Delete(cache.VariantKey(key, vary, req))
}

// storeObject puts obj under the job's key, or under its variant key with a
// vary marker at the primary key.
func (s *Server) storeObject(j *fillJob, obj *cache.Object, vary []string) {
	s.storeAt(j.key, j.facts.Header, obj, vary)
}

// storeAt puts obj under key, or, when it varies, under the variant key of
// the request whose header is req, with a vary marker at key.
func (s *Server) storeAt(key string, req cache.Header, obj *cache.Object, vary []string) {
	if len(vary) == 0 {
		s.store.Set(key, obj)
		return
	}
	marker := &cache.Object{Vary: vary, ResponseTime: obj.ResponseTime, InitialAge: obj.InitialAge, Freshness: obj.Freshness}
	s.store.Set(key, marker)
	s.store.Set(cache.VariantKey(key, vary, req), obj)
}

func (s *Server) publishStale(f *collapse.Fill, j *fillJob, cause error) {
	res := s.objectResult(j, j.stale, resultHit)
	res.detail, res.errTok, res.err = "StaleIfErrorHit", errorToken(cause), cause
	f.Publish(collapse.Head{Status: j.stale.Status, Shareable: true, Meta: res})
	f.Close(nil)
}

// objectResult tells the viewers of a fill to serve obj as it is, naming
// its variant so that a viewer asking for another one does not get it.
func (s *Server) objectResult(j *fillJob, obj *cache.Object, r result) *fillResult {
	res := &fillResult{obj: obj, result: r, tags: obj.Tags, upstream: j.upstreamTiming}
	if vary, _ := j.b.varyFields(obj.Header); len(vary) > 0 {
		res.varyFields = vary
		res.variantKey = cache.VariantKey(j.key, vary, j.facts.Header)
	}
	return res
}

// unconditional is j without the validators of its stale object.
func (j *fillJob) unconditional() *fillJob {
	u := *j
	u.stale = nil
	u.cloneRequests()
	for _, h := range u.headers() {
		h.Del("If-None-Match")
		h.Del("If-Modified-Since")
	}
	return &u
}

// staleOnError reports whether a stale object may be served because the
// origin failed: within its stale-if-error window (RFC 5861 §4), or, when
// the origin could not be reached at all, as CloudFront does, unless the
// response forbade serving stale (must-revalidate, RFC 9111 §4.2.4).
func staleOnError(o *cache.Object, now time.Time, status int) bool {
	if o.Freshness.MustRevalidate || o.Status == 0 || o.Vary != nil {
		return false
	}
	if -o.FreshFor(now) <= o.Freshness.StaleIfError {
		return true
	}
	return status == 0 // unreachable origin
}

type originStatusError struct{ status int }

func (e *originStatusError) Error() string {
	return "origin answered " + strconv.Itoa(e.status)
}

// clipHeader makes every value slice full, so that an append by a reader
// of the shared stored header copies instead of writing into it.
func clipHeader(h cache.Header) cache.Header {
	for k, v := range h {
		h[k] = slices.Clip(v)
	}
	return h
}

// respondFill streams a fetch in progress to one viewer (read-while-write).
//
// early, when it holds a reader, is the one fetch attached before the head;
// respondFill takes it over (and leaves nil) when it streams from offset 0
// or needs it because the bytes at a range's offset are gone.
func (s *Server) respondFill(x *exchange, f *collapse.Fill, head collapse.Head, res *fillResult, early **collapse.Reader) {
	if er := x.dist.errorResponses[head.Status]; er != nil && !x.errorPage {
		if *early != nil {
			(*early).Close()
			*early = nil
		}
		s.errorResponse(x, head.Status, er)
		return
	}
	h := x.w.Header()
	for k, v := range head.Header {
		h[k] = v
	}
	tagsForTier(x, h, res.tags)
	h["Age"] = ageValue(res.initialAge + time.Since(res.responseTime))
	markOriginError(x, head.Status)
	s.decorate(x, h)
	r := x.r
	// A body not compressed whole before it goes out (not stored, of
	// unknown length, or beyond the memory tier) is compressed as it
	// streams; not for a Range request (compress_stream.go).
	enc := streamCoding(x, h, head.Status, head.ContentLength)

	if answerConditional(x, h, head.Status) {
		return
	}

	// A single range of a body whose length is known is served as it
	// arrives; other range requests on a miss get the whole body (RFC 9110
	// §14.2 lets a server ignore Range), and the next request hits.
	offset, limit := int64(0), int64(-1)
	if rv := r.Header.Get("Range"); rv != "" && head.Status == http.StatusOK && head.ContentLength >= 0 && r.Method == http.MethodGet &&
		(r.Header.Get("If-Range") == "" || cache.IfRangeAllows(r.Header.Get("If-Range"), cache.Header(h))) {
		ranges, err := cache.ParseRange(rv, head.ContentLength)
		switch {
		case errors.Is(err, cache.ErrUnsatisfiable):
			clearBodyHeaders(h)
			h.Set("Content-Range", cache.UnsatisfiedRange(head.ContentLength))
			x.w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		case err == nil && len(ranges) == 1:
			offset, limit = ranges[0].Start, ranges[0].End-ranges[0].Start+1
			h.Set("Content-Range", cache.ContentRange(ranges[0], head.ContentLength))
			h.Set("Content-Length", strconv.FormatInt(limit, 10))
		}
	}
	if limit >= 0 && offset > fillWindow && res.growing == nil && head.ContentLength > s.maxObject && r.Method == http.MethodGet {
		// The body streams through uncached (too large for memory, and no
		// disk takes it): following the fetch to a far range would download
		// everything before it. The origin answers the range itself.
		if *early != nil {
			(*early).Close()
			*early = nil
		}
		for k := range h {
			delete(h, k)
		}
		s.pass(x)
		return
	}
	status := head.Status
	if limit >= 0 {
		status = http.StatusPartialContent
	}
	if head.Status == http.StatusOK && enc == "" {
		h["Accept-Ranges"] = acceptRangesBytes
	}
	if r.Method == http.MethodHead || !bodyAllowed(status) {
		x.w.WriteHeader(status)
		return
	}
	fillReader, err := s.readerAt(f, offset, early)
	if *early != nil {
		(*early).Close() // a range served from a reader of its own
		*early = nil
	}
	var body io.ReadCloser
	switch {
	case err == nil:
		body = fillReader
	case errors.Is(err, collapse.ErrNotRetained) && res.growing != nil:
		// A large object already streaming past the start of the fill's
		// window, into a disk tier: follow its file as it grows.
		body = res.growing.reader(r.Context(), offset)
	case errors.Is(err, collapse.ErrNotRetained):
		// A large object already streaming past the start: fetch our own.
		for k := range h {
			delete(h, k)
		}
		s.pass(x)
		return
	default:
		s.failOrigin(x, err)
		return
	}
	defer body.Close()
	x.w.WriteHeader(status)
	var src io.Reader = body
	if limit >= 0 {
		src = io.LimitReader(body, limit)
	}
	if enc != "" {
		err = streamCompressed(&x.w, src, enc)
	} else {
		err = streamTo(&x.w, src)
	}
	if err != nil {
		x.result, x.err, x.errTok = resultError, err, errorToken(err)
		// Headers are out: cut the connection so the viewer sees a
		// truncated body, never a short one that looks complete.
		panic(http.ErrAbortHandler)
	}
}

// readerAt returns a reader of f's body from offset: the early reader for
// offset 0, a new one where the bytes are still held, else the early
// reader moved forward to offset.
func (s *Server) readerAt(f *collapse.Fill, offset int64, early **collapse.Reader) (*collapse.Reader, error) {
	if offset == 0 && *early != nil {
		r := *early
		*early = nil
		return r, nil
	}
	r, err := f.NewReader(offset)
	if !errors.Is(err, collapse.ErrNotRetained) || *early == nil {
		return r, err
	}
	r = *early
	*early = nil
	if _, err := io.CopyN(io.Discard, r, offset); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// streamTo copies src to the viewer, flushing each chunk so that bytes
// reach the viewer as they arrive from the origin.
func streamTo(w *countingWriter, src io.Reader) error { return streamThrough(w, src, nil) }

// streamThrough is streamTo through encoder z when z is not nil: each
// chunk is written to z and flushed (a sync flush of its coding) before
// the viewer's flush, and z is closed at the end of src.
func streamThrough(w *countingWriter, src io.Reader, z streamEncoder) error {
	var dst io.Writer = w
	if z != nil {
		dst = z
	}
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return nil // the viewer went away; nothing to tell it
			}
			if z != nil && z.Flush() != nil {
				return nil
			}
			w.Flush()
		}
		if err == io.EOF {
			if z != nil {
				z.Close()
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}
