package edge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/terncdn/tern/origin"
	"github.com/terncdn/tern/telemetry"
	"github.com/terncdn/tern/tier"
)

// Tiered caching: a cacheable miss (or revalidation) goes to the object's
// owner among this POP's live nodes, then to the regional shield of its
// origin, then to the origin; so a POP fetches each object once and a
// region about once.
//
// A tier-to-tier request is the viewer's request as the next node would
// see it from the viewer (method, Host, path, query, every header but the
// hop-by-hop ones, X-Forwarded-For extended), with the fill's own range
// and validators, marked with the Tern-Tier header (package tier). The
// next node runs its own pipeline on it, cache and collapsing included,
// and this node treats its answer as an origin's.
//
// A peer or shield that fails is skipped: this node tries the next ranked
// node (at most maxTierTries per tier), then the origin, and the viewer
// does not see the failure. Failing means: no connection within
// tierConnectTimeout, a broken or malformed response, no response head in
// time, or an answer that is the node's own failure rather than the
// origin's (see tierVerdict). When the node relays the origin's failure
// (it could not reach the origin, X-Tern-Error origin-connect-error, ...),
// that is the answer: this node does not try the origin again.
//
// Behaviors whose viewer protocol policy is redirect-to-https or
// https-only are fetched from the origin directly: tier-to-tier requests
// are plain HTTP, and the next node applies the policy to them as to any
// request.

const (
	// maxTierTries bounds the nodes tried per tier before the next.
	maxTierTries = 2
	// tierConnectTimeout is short: a dead peer must cost the viewer
	// little, and nodes of one POP or region are close.
	tierConnectTimeout = time.Second
	// tierKeepalive keeps idle connections between nodes warm.
	tierKeepalive = 30 * time.Second
)

// errTierLoop is the X-Tern-Error token of a 508 for a tier-to-tier
// request that has been here before.
const errTierLoop = "tier-loop"

// errTierBehind is the X-Tern-Error token of a 503 for a fenced tier
// request this node could not answer: it had not applied the
// invalidations up to the fence in time (fence.go).
const errTierBehind = "tier-behind"

// tierSource holds the membership a Server consults (an interface in an
// atomic.Pointer).
type tierSource struct{ m tier.Members }

// SetTiers gives the edge its tier membership (control.Edges, or a
// tier.Static); nil turns tiered caching off. Options.Tiers sets it at
// start; SetTiers is for a membership that exists only once the edge does.
func (s *Server) SetTiers(m tier.Members) {
	if m == nil {
		s.tiers.Store(nil)
		return
	}
	s.tiers.Store(&tierSource{m: m})
}

// SetTierSecret sets the secret this node's tier requests are signed with
// and the Tern-Tier headers it receives are checked against (the control
// plane's; see tier.AuthHeader). Without one, received headers are
// trusted as they come.
func (s *Server) SetTierSecret(secret []byte) {
	if len(secret) == 0 {
		s.tierSecret.Store(nil)
		return
	}
	b := slices.Clone(secret)
	s.tierSecret.Store(&b)
}

// tierAuthentic reports whether r's Tern-Tier header v comes from a node
// of this control plane.
func (s *Server) tierAuthentic(r *http.Request, v string) bool {
	secret := s.tierSecret.Load()
	if secret == nil {
		return true
	}
	auth := r.Header.Get(tier.AuthHeader)
	return auth != "" && tier.Verify(*secret, auth, v, r.Method, r.Host, r.RequestURI, time.Now())
}

// tierTarget is the request target a tier request is sent with: its path
// and query, as the receiver sees them in RequestURI.
func tierTarget(r *origin.Request) string {
	p := r.Path
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if r.RawQuery != "" {
		p += "?" + r.RawQuery
	}
	return p
}

// tierLoop reads a Tern-Tier header and answers 508 Loop Detected when the
// request has passed through this node before, or through too many
// nodes; it reports whether it answered. A header that does not parse is
// ignored, as if a viewer had sent it.
func (s *Server) tierLoop(x *exchange, v string) bool {
	h, ok := tier.ParseHeader(v)
	if !ok {
		return false
	}
	switch {
	case h.Has(s.nodeID):
		s.fail(x, http.StatusLoopDetected, errTierLoop, fmt.Errorf("tier request came back to this node (chain %s)", h.Chain))
		return true
	case h.Len() >= tier.MaxChain:
		s.fail(x, http.StatusLoopDetected, errTierLoop, fmt.Errorf("tier request passed %d nodes (chain %s)", h.Len(), h.Chain))
		return true
	}
	if h.Fence > 0 {
		caughtUp, waited := s.fences.wait(x.r.Context(), h.Fence)
		if !caughtUp {
			// Answering from this cache could hand back what the asking
			// node has purged: it goes on to the next tier, then the origin.
			s.fail(x, http.StatusServiceUnavailable, errTierBehind,
				fmt.Errorf("tier request fenced at invalidation %d; this node has not applied it within %v", h.Fence, fenceWait))
			return true
		}
		if waited {
			// Freshness is judged as of now, after the purges it waited
			// for: one that marked the object stale (soft) did so after
			// the request came in. The access log's time-taken then
			// starts here too.
			x.start = time.Now()
		}
	}
	x.tierHop = h
	return false
}

// tierStop is one node a fetch may go to before the origin.
type tierStop struct {
	kind string // tier.HopPeer or tier.HopShield
	node tier.Member
}

// tierPlan lists the nodes a fetch for key tries before the origin, in
// order: this POP's owner of key (unless this node is the owner, or the
// request came from a peer or a shield), then the shields of the origin's
// region (unless this node is one, or the request came from a shield).
func (s *Server) tierPlan(x *exchange, key string) []tierStop {
	src := s.tiers.Load()
	b := x.behavior
	if src == nil || !b.tierable || x.tierHop.Kind == tier.HopShield || (x.r.TLS != nil && b.matchViewer) {
		return nil
	}
	var plan []tierStop
	if s.peering && x.tierHop.Kind == "" {
		ms := src.m.Members(s.pop)
		tier.Rank(ms, key)
		for _, m := range ms {
			if m.NodeID == s.nodeID || len(plan) == maxTierTries {
				break // this node owns key (or is next in line): it fetches
			}
			plan = append(plan, tierStop{kind: tier.HopPeer, node: m})
		}
	}
	if region := b.shieldRegion; region != "" && !(s.role == tier.RoleShield && s.pop == region) {
		ms := slices.DeleteFunc(src.m.Members(region), func(m tier.Member) bool {
			return m.Role != tier.RoleShield || m.NodeID == s.nodeID
		})
		tier.Rank(ms, key)
		for _, m := range ms[:min(len(ms), maxTierTries)] {
			plan = append(plan, tierStop{kind: tier.HopShield, node: m})
		}
	}
	return plan
}

// tierRequest is x's request as the next node sees it from a viewer, for a
// fill that fetches with method. The fill's own range and validators are
// set on it as on the origin request (fillJob.headers).
func (s *Server) tierRequest(x *exchange, method string) *origin.Request {
	r := x.r
	h := r.Header.Clone()
	for _, k := range fillOnlyEdge {
		delete(h, k)
	}
	delete(h, tier.Header)
	delete(h, tier.AuthHeader)
	delete(h, "Content-Length")
	delete(h, "Expect")
	keepEdgeCloudFront(h, x.behavior)
	v := s.viewerOf(x)
	switch xff := strings.Join(h["X-Forwarded-For"], ", "); {
	case v.forwardedFor != "":
		h["X-Forwarded-For"] = []string{v.forwardedFor}
	case xff != "":
		h["X-Forwarded-For"] = []string{xff + ", " + v.ip}
	default:
		h["X-Forwarded-For"] = []string{v.ip}
	}
	return &origin.Request{Method: method, Path: x.path, RawQuery: r.URL.RawQuery, Header: h, Host: r.Host}
}

// fetchUpstream fetches j from the first node of its tier plan that
// answers, else from the origin, and notes in j.upstream which answered.
func (s *Server) fetchUpstream(j *fillJob) (*origin.Response, error) {
	for _, st := range j.tiers {
		resp, err := s.fetchTier(j, st)
		var relayed *relayedOriginError
		switch {
		case err == nil:
			j.upstream = st.kind
			s.observeUpstream(j, st.kind)
			return resp, nil
		case errors.As(err, &relayed):
			j.upstream = st.kind
			s.observeUpstream(j, st.kind)
			return nil, relayed.err
		}
		slog.Debug("tier fetch failed; trying the next", "distribution", j.dist.id, "upstream", st.kind,
			"node", st.node.NodeID, "addr", st.node.Addr, "error", err)
		if s.metrics != nil {
			s.metrics.ObserveTierFailure(j.dist.id, st.kind)
		}
	}
	j.upstream = telemetry.UpstreamOrigin
	s.observeUpstream(j, telemetry.UpstreamOrigin)
	return s.client.Do(context.Background(), j.b.target, j.req)
}

func (s *Server) observeUpstream(j *fillJob, upstream string) {
	if s.metrics != nil {
		s.metrics.ObserveUpstream(j.dist.id, upstream)
	}
}

// fetchTier sends j's tier request to one node and judges its answer.
//
// A node may take long to answer (it waits on its own upstream), so the
// wait for its response head is bounded by the behavior's tierTimeout;
// but a node that hangs (stopped, deadlocked) stops sending heartbeats
// too, and the wait ends as soon as the membership no longer lists it.
func (s *Server) fetchTier(j *fillJob, st tierStop) (*origin.Response, error) {
	o := s.tierOrigin(st.node, j.b.tierTimeout)
	// The fill's goroutine alone uses j.treq: the header is set per try.
	// It carries the fence of the purges this node applied lately that
	// cover the object, or the one it was asked with.
	hop := j.hop
	hop.Fence = max(hop.Fence, s.fences.of(j.key, time.Now()))
	v := hop.Next(st.kind, s.nodeID)
	j.treq.Header[tier.Header] = []string{v}
	if secret := s.tierSecret.Load(); secret != nil {
		method := cmp.Or(j.treq.Method, http.MethodGet)
		j.treq.Header[tier.AuthHeader] = []string{tier.Sign(*secret, v, method, j.treq.Host, tierTarget(j.treq), time.Now())}
	}
	req := *j.treq
	req.OnEarlyHints = j.req.OnEarlyHints
	ctx, cancel := context.WithCancel(context.Background())
	w := s.watchTierNode(st, cancel)
	resp, err := s.tierClient.Do(ctx, &origin.Target{ID: o.ID, Members: []*origin.Origin{o}}, &req)
	gone := w.stop()
	if err != nil {
		cancel()
		if gone {
			err = fmt.Errorf("left the membership while this node waited: %w", err)
		}
		return nil, fmt.Errorf("%s %s at %s: %w", st.kind, st.node.NodeID, st.node.Addr, err)
	}
	// The body streams under ctx: it is released when the body is closed.
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	if err := tierVerdict(resp, st, j.b.target.ID); err != nil {
		resp.Body.Close()
		return nil, err
	}
	// What the node said of its own handling is not part of the object.
	h := resp.Header
	for _, k := range [...]string{HeaderCache, HeaderRequestID, HeaderPOP, HeaderError, tier.ErrorResponseHeader} {
		delete(h, k)
	}
	return resp, nil
}

// tierLivenessCheck is how often a wait for a node's answer checks that
// the membership still lists the node.
const tierLivenessCheck = time.Second

// tierWatch cancels a wait for a node's response head once the node
// leaves the membership.
type tierWatch struct {
	mu          sync.Mutex
	t           *time.Timer
	done, fired bool
}

func (s *Server) watchTierNode(st tierStop, cancel context.CancelFunc) *tierWatch {
	w := &tierWatch{}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t = time.AfterFunc(tierLivenessCheck, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.done {
			return
		}
		if !s.isTierMember(st.node) {
			w.fired = true
			cancel()
			return
		}
		w.t.Reset(tierLivenessCheck)
	})
	return w
}

// stop ends the watch, before the response body is read (cancelling
// then would cut it), and reports whether the node had left.
func (w *tierWatch) stop() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	w.t.Stop()
	return w.fired
}

// isTierMember reports whether the membership still lists m.
func (s *Server) isTierMember(m tier.Member) bool {
	src := s.tiers.Load()
	if src == nil {
		return false
	}
	for _, n := range src.m.Members(m.POP) {
		if n.NodeID == m.NodeID && n.Addr == m.Addr {
			return true
		}
	}
	return false
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// relayedOriginError is a node's answer that it could not reach the
// origin: the fetch's answer, not a reason to skip the node.
type relayedOriginError struct{ err error }

func (e *relayedOriginError) Error() string { return e.err.Error() }

// tierVerdict judges a node's answer: nil when it is the origin's answer
// as the node relays it (a stored object, the origin's response, an
// origin error status, stale content served because the origin failed);
// a *relayedOriginError when the node could not reach the origin (502 or
// 504 with an origin error kind); any other error when the answer is the
// node's own failure and the node is skipped: not a Tern cache answer at
// all (no X-Cache of Tern's, e.g. a proxy's 502), its own error
// (X-Tern-Error not origin-…: no-distribution while its configuration
// lags, tier-loop, https-only, ...), a redirect of its own, or a custom
// error response.
func tierVerdict(resp *origin.Response, st tierStop, target string) error {
	h := resp.Header
	switch xc := h.Get(HeaderCache); xc {
	case xCache[resultHit][0], xCache[resultMiss][0], xCache[resultRefreshHit][0], xCache[resultError][0]:
	default:
		return fmt.Errorf("%s %s answered %d without a cache result (X-Cache %q)", st.kind, st.node.NodeID, resp.StatusCode, xc)
	}
	if _, ok := h[tier.ErrorResponseHeader]; ok {
		return fmt.Errorf("%s %s answered %d with a custom error response", st.kind, st.node.NodeID, resp.StatusCode)
	}
	tok := h.Get(HeaderError)
	switch {
	case tok == "":
		return nil
	case !strings.HasPrefix(tok, "origin-"):
		return fmt.Errorf("%s %s answered %d: %s", st.kind, st.node.NodeID, resp.StatusCode, tok)
	}
	if k, ok := origin.ParseErrorKind(tok); ok && (resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout) {
		return &relayedOriginError{&origin.Error{Kind: k, Origin: target,
			Err: fmt.Errorf("%s %s could not fetch it (%d %s)", st.kind, st.node.NodeID, resp.StatusCode, tok)}}
	}
	return nil
}

// tierOriginKey names one node's connection pool: its id and address, and
// the response timeout of the behaviors fetched through it.
type tierOriginKey struct {
	node, addr string
	timeout    time.Duration
}

// tierOrigin is the *origin.Origin the tier client fetches from node
// through: one connection attempt of tierConnectTimeout, and responses
// allowed as long as the node's own fetches may take.
func (s *Server) tierOrigin(m tier.Member, timeout time.Duration) *origin.Origin {
	k := tierOriginKey{m.NodeID, m.Addr, timeout}
	if o, ok := s.tierOrigins.Load(k); ok {
		return o.(*origin.Origin)
	}
	host, port, _ := net.SplitHostPort(m.Addr)
	p, _ := strconv.Atoi(port)
	o, _ := s.tierOrigins.LoadOrStore(k, &origin.Origin{
		ID: m.NodeID, DomainName: host, HTTPPort: p, ProtocolPolicy: origin.HTTPOnly,
		ConnectionAttempts: 1, ConnectionTimeout: tierConnectTimeout,
		ResponseTimeout: timeout, KeepaliveTimeout: tierKeepalive,
	})
	return o.(*origin.Origin)
}

// tierResponseTimeout is how long a node may take to answer for target:
// as long as its own fetch of target may take (every member's connection
// attempts and response timeout), twice over for a fetch through a peer
// and then a shield, plus the connections between them.
func tierResponseTimeout(t *origin.Target) time.Duration {
	var d time.Duration
	for _, o := range t.Members {
		d += time.Duration(orDefault(o.ConnectionAttempts, origin.DefaultConnectionAttempts))*orDefault(o.ConnectionTimeout, origin.DefaultConnectionTimeout) +
			orDefault(o.ResponseTimeout, origin.DefaultResponseTimeout)
	}
	return 2*d + 2*tierConnectTimeout
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
