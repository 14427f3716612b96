// Package edge is Tern's HTTP edge: it terminates viewer connections and
// runs each request through the pipeline of DESIGN.md (route, protect,
// functions, cache lookup, collapse, fetch, store, respond, account),
// serving from cache whenever RFC 9111 allows.
package edge

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/terncdn/tern/cache"
	"github.com/terncdn/tern/collapse"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/geo"
	"github.com/terncdn/tern/origin"
	"github.com/terncdn/tern/telemetry"
	"github.com/terncdn/tern/tier"
)

// Headers Tern adds to viewer responses. X-Cache keeps CloudFront's name and
// values; X-Tern-Id and X-Tern-Pop stand where CloudFront sends X-Amz-Cf-Id
// and X-Amz-Cf-Pop; X-Tern-Error names the cause of every error response.
const (
	HeaderCache     = "X-Cache"
	HeaderRequestID = "X-Tern-Id"
	HeaderPOP       = "X-Tern-Pop"
	HeaderError     = "X-Tern-Error"
)

// Options configure a Server.
type Options struct {
	// Config is the validated configuration to serve (config.Parse).
	Config *config.Config
	// Storage is the cache tier; required.
	Storage cache.Storage
	// AccessLog and Metrics receive one record per request; either may be nil.
	AccessLog *telemetry.AccessLog
	Metrics   *telemetry.Metrics
	// Client fetches from origins; nil makes one.
	Client *origin.Client
	// Bodies stores responses too large for the memory tier while they
	// stream (a disk tier); nil: they stream through uncached. BodiesMax is
	// the largest body it takes.
	Bodies    cache.BodyStore
	BodiesMax int64
	// Slices keeps large objects slice by slice (a disk tier): range
	// requests then fetch and store only the slices they need. nil: a
	// range request on a miss fetches the whole object.
	Slices cache.SliceStore
	// Tiers is the live membership of POP peers and shields that
	// cacheable misses are fetched through (control.Edges fed by
	// heartbeats, or a tier.Static); nil: every miss goes to the origin.
	// See SetTiers.
	Tiers tier.Members
	// Locator finds where viewers are, for the CloudFront-Viewer-* location
	// headers (country, region, city, coordinates, ASN) that policies
	// name; nil: those headers are left out.
	Locator geo.Locator
}

// Server is one edge node. It is an http.Handler; the caller owns the
// listeners, so the same Server can serve HTTP/1.1 now and other transports
// later.
type Server struct {
	routes  atomic.Pointer[routes]
	applyMu sync.Mutex                // serialises Apply
	origins map[string]*origin.Origin // the running origins, by distribution and id
	store   cache.Storage
	fills   *collapse.Group
	client  *origin.Client
	log     *telemetry.AccessLog
	metrics *telemetry.Metrics
	locator geo.Locator

	nodeID, pop string
	via         string   // "1.1 <node-id> (tern)", appended to Via
	viaValue    []string // [via]: shared header value slices, never appended to
	popValue    []string
	ids         requestIDs
	maxObject   int64
	bodies      cache.BodyStore
	bodiesMax   int64
	slices      cache.SliceStore
	sliceSize   int64
	sliceFills  *collapse.Group // fetches of slice spans (slice.go)

	passMarkerTTL time.Duration // hit-for-pass: passMarkerTTL, shorter in tests

	// Tiered caching (tier.go): the membership, this node's role and
	// whether it fetches through its POP's owners, and the client and
	// pools for the other nodes.
	tiers       atomic.Pointer[tierSource]
	role        string
	peering     bool
	tierClient  *origin.Client
	tierOrigins sync.Map // tierOriginKey → *origin.Origin
	// fences are the purges applied lately and how far the invalidation
	// stream is applied (fence.go).
	fences *fences
	// tierSecret authenticates Tern-Tier headers (tier.AuthHeader); nil
	// trusts them as they come (a static membership without a control
	// plane).
	tierSecret atomic.Pointer[[]byte]
	// https is the edge's HTTPS listener, if any (SetHTTPS, https.go).
	https atomic.Pointer[httpsInfo]
}

// New builds an edge from a validated configuration.
func New(o Options) (*Server, error) {
	if o.Config == nil || o.Storage == nil {
		return nil, errors.New("edge: Options.Config and Options.Storage are required")
	}
	c := o.Config
	s := &Server{
		fences:    newFences(),
		store:     o.Storage,
		log:       o.AccessLog,
		metrics:   o.Metrics,
		locator:   o.Locator,
		nodeID:    c.Edge.NodeID,
		pop:       c.Edge.POP,
		maxObject: int64(c.Edge.Cache.MaxObjectSize),
	}
	s.passMarkerTTL = passMarkerTTL
	s.bodies, s.bodiesMax = o.Bodies, o.BodiesMax
	if o.Slices != nil && o.Slices.SliceSize() > 0 {
		s.slices, s.sliceSize = o.Slices, o.Slices.SliceSize()
		// Span fills hold their whole span, whatever the memory tier's
		// object limit, so that every slice they bring can be stored.
		s.sliceFills = &collapse.Group{RetainLimit: s.spanBytes(), Window: fillWindow, StallTimeout: fillStallTimeout}
	}
	s.via = "1.1 " + s.nodeID + " (tern)"
	s.viaValue = []string{s.via}
	s.popValue = []string{s.pop}
	s.ids.init()
	s.role, s.peering = c.Edge.Role, c.Edge.PeeringEnabled()
	// Tier-to-tier requests carry the viewer's User-Agent, or none, so
	// that the next node sees the request as the viewer sent it.
	s.tierClient = origin.NewClient(origin.ClientOptions{NoUserAgent: true, Via: s.via})
	s.SetTiers(o.Tiers)
	s.fills = &collapse.Group{RetainLimit: s.maxObject, Window: fillWindow, StallTimeout: fillStallTimeout}
	s.client = o.Client
	if s.client == nil {
		s.client = origin.NewClient(origin.ClientOptions{UserAgent: "Tern", Via: s.via})
	}
	if err := s.Apply(c); err != nil {
		return nil, err
	}
	return s, nil
}

const (
	// fillWindow bounds the memory one streamed-through large object may
	// hold: the fastest viewer may run this far ahead of the slowest.
	fillWindow = 8 << 20
	// fillStallTimeout detaches a viewer that stops reading a shared fetch,
	// so one dead connection cannot hold a download for everyone.
	fillStallTimeout = 30 * time.Second
)

// Apply swaps in a new configuration. Requests in flight finish with the one
// they started with; cached objects stay.
func (s *Server) Apply(c *config.Config) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	rt, origins, err := compile(c, s.origins)
	if err != nil {
		return fmt.Errorf("edge: apply config: %w", err)
	}
	s.routes.Store(rt)
	// Origins that changed or went away give up their connection pools;
	// requests still using them finish first.
	for id, o := range s.origins {
		if origins[id] != o {
			s.client.Forget(o)
		}
	}
	s.origins = origins
	return nil
}

// Close releases idle origin connections.
func (s *Server) Close() {
	s.client.CloseIdle()
	s.tierClient.CloseIdle()
}

// ServeHTTP runs the request pipeline. It reads in the order a request
// lives; each phase either answers the request or hands it to the next.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := s.begin(w, r)
	defer s.finish(x) // 11. account: access log record and metrics

	// 0. A request from another Tern node (the Tern-Tier header) that has
	// been here before is a loop: refused before anything else.
	if s.tiers.Load() != nil {
		if v := r.Header[tier.Header]; len(v) > 0 {
			if !s.tierAuthentic(r, v[0]) {
				// A viewer's: it is handled, and forwarded, as if it had
				// not been sent.
				delete(r.Header, tier.Header)
			} else if s.tierLoop(x, v[0]) {
				return
			}
		}
	}

	// 1. accept happened in net/http. 2. route: distribution by Host, then
	// the first cache behavior whose path pattern matches.
	d := s.routes.Load().distributionFor(r.Host)
	if d == nil {
		s.fail(x, http.StatusNotFound, errNoDistribution, fmt.Errorf("no distribution serves host %q", r.Host))
		return
	}
	x.dist = d
	if r.TLS != nil && !d.tlsPolicy.Allows(r.TLS.Version, r.TLS.CipherSuite) {
		// The handshake followed the policy of the SNI's distribution;
		// one that names, by Host, a distribution whose policy the
		// connection does not meet is sent to a connection of its own
		// (RFC 9110 §15.5.20), so that no weaker policy stands in for it.
		s.fail(x, http.StatusMisdirectedRequest, errTLSPolicy, fmt.Errorf("the connection (%s, %s) does not meet the security policy of distribution %q",
			tls.VersionName(r.TLS.Version), tls.CipherSuiteName(r.TLS.CipherSuite), d.id))
		return
	}
	path := normalizePath(r.URL.EscapedPath())
	if path == "/" && d.defaultRootObject != "" {
		path = d.defaultRootObject
	}
	x.path = path
	b := d.behaviorFor(path)
	x.behavior = b
	if b.headers != nil && !fromTier(x) {
		// 10. (when the head goes out) the response headers policy; a
		// node that fetches through this one applies its own.
		x.w.policy = b.headers
	}
	if r.TLS == nil {
		switch b.viewerProtocol {
		case "redirect-to-https":
			s.redirectToHTTPS(x)
			return
		case "https-only":
			s.fail(x, http.StatusForbidden, errHTTPSOnly, errors.New("this behavior accepts HTTPS only"))
			return
		}
	}
	if !b.allowed.has(r.Method) {
		s.fail(x, http.StatusForbidden, errMethodNotAllowed, fmt.Errorf("method %s is not allowed by behavior %q", r.Method, b.name()))
		return
	}

	// 2b. viewer: the CloudFront-* headers the behavior's policies name
	// are the edge's, not the viewer's: they are replaced now, so that the
	// cache key, a Vary and the origin request all see the edge's values.
	// (A request from another Tern node carries those of the viewer's
	// edge.) Behaviors that name none pay nothing here.
	if len(b.cloudFrontNames) > 0 && !fromTier(x) {
		for _, n := range b.cloudFrontNames {
			delete(r.Header, n)
		}
		s.addViewerHeaders(x, b.viewerHeaders)
	}

	// A CORS preflight the policy answers itself (origin_override) never
	// reaches the cache or the origin.
	if b.headers != nil && b.headers.cors != nil && b.headers.cors.answerPreflight && isPreflight(r) && !fromTier(x) {
		s.answerPreflight(x)
		return
	}

	// 3. protect (WAF, rate limits, geo, signed URLs) and 4. the
	// viewer-request function run here once they exist; neither may be
	// skipped by the cache, so they come before the lookup.

	if isWebSocket(r) {
		s.tunnel(x)
		return
	}
	if !b.cacheable(r.Method) {
		s.pass(x) // 7-10 without the cache: stream both ways
		return
	}
	s.serveCached(x) // 5-10
}

func (b *behavior) name() string {
	if b.pattern == "" {
		return "default"
	}
	return b.pattern
}

// cacheable reports whether requests with this method go through the cache:
// the behavior caches the method and its policy allows storing at all.
func (b *behavior) cacheable(method string) bool {
	if b.cachingOff || !b.cached.has(method) {
		return false
	}
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

func isWebSocket(r *http.Request) bool {
	return r.Method == http.MethodGet && r.Header.Get("Upgrade") != "" &&
		headerHasToken(r.Header["Connection"], "upgrade")
}

func (s *Server) redirectToHTTPS(x *exchange) {
	h := x.w.Header()
	h.Set("Location", s.httpsURL(x.r))
	x.result = resultRedirect
	s.decorate(x, h)
	x.w.WriteHeader(http.StatusMovedPermanently)
}
