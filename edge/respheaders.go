package edge

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/origin"
)

// headerPolicy is a response headers policy (config.ResponseHeadersPolicy)
// compiled for the respond phase: canonical names and header values are
// built once per configuration, so applying it to a response is a handful
// of map operations. It is applied by countingWriter.WriteHeader, the one
// point every response to a viewer passes (hits, misses, 304s, redirects
// and error pages alike), after everything else has set its headers.
type headerPolicy struct {
	remove []string      // removed first (remove_headers_config)
	fields []headerField // then security headers and custom headers
	cors   *corsPolicy   // nil: no CORS headers

	// Server-Timing (server_timing_headers_config): whether it is on, the
	// share of responses that get it (1 is all), and the cdn-pop metric.
	timing     bool
	timingRate float64
	popMetric  string
}

// headerField is one header the policy sets. value is shared by every
// response and never appended to.
type headerField struct {
	name     string
	value    []string
	override bool // replace the origin's (or cached) value
}

// corsPolicy is a compiled cors_config.
type corsPolicy struct {
	anyOrigin bool            // "*" is allowed: the response says "*"
	exact     map[string]bool // allowed origins, lower case, "https://a.example.com[:port]"
	wildcards []originPattern // "https://*.example.com"
	// Header values; nil when the policy does not send the header.
	credentials, allowHeaders, allowMethods, exposeHeaders, maxAge []string

	override bool // origin_override
	// answerPreflight: the edge answers preflight requests itself
	// (origin_override is true).
	answerPreflight bool
}

// originPattern is an allowed origin with a "*." host.
type originPattern struct {
	scheme string // "http", "https", or "" for both
	suffix string // ".example.com"
	port   string // "" for none
}

// Names of the CORS response headers (Fetch standard, "HTTP responses").
const (
	hdrAllowOrigin      = "Access-Control-Allow-Origin"
	hdrAllowCredentials = "Access-Control-Allow-Credentials"
	hdrAllowHeaders     = "Access-Control-Allow-Headers"
	hdrAllowMethods     = "Access-Control-Allow-Methods"
	hdrExposeHeaders    = "Access-Control-Expose-Headers"
	hdrMaxAge           = "Access-Control-Max-Age"
	hdrServerTiming     = "Server-Timing"
)

var (
	anyOriginValue = []string{"*"}
	allCORSMethods = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
)

// compileHeaderPolicy builds the edge's form of a validated policy; pop is
// this node's POP, for Server-Timing's cdn-pop.
func compileHeaderPolicy(p *config.ResponseHeadersPolicy, pop string) *headerPolicy {
	if p == nil {
		return nil
	}
	hp := &headerPolicy{}
	for _, n := range p.RemoveHeadersConfig {
		hp.remove = append(hp.remove, http.CanonicalHeaderKey(n))
	}
	add := func(name, value string, override bool) {
		hp.fields = append(hp.fields, headerField{name: http.CanonicalHeaderKey(name), value: []string{value}, override: override})
	}
	if s := p.SecurityHeadersConfig; s != nil {
		if h := s.StrictTransportSecurity; h != nil && h.AccessControlMaxAgeSec != nil {
			v := "max-age=" + strconv.FormatInt(*h.AccessControlMaxAgeSec, 10)
			if h.IncludeSubdomains {
				v += "; includeSubDomains"
			}
			if h.Preload {
				v += "; preload"
			}
			add("Strict-Transport-Security", v, h.Override)
		}
		if h := s.ContentTypeOptions; h != nil {
			add("X-Content-Type-Options", "nosniff", h.Override)
		}
		if h := s.FrameOptions; h != nil {
			add("X-Frame-Options", h.FrameOption, h.Override)
		}
		if h := s.ReferrerPolicy; h != nil {
			add("Referrer-Policy", h.ReferrerPolicy, h.Override)
		}
		if h := s.XSSProtection; h != nil && h.Protection != nil {
			v := "0"
			if *h.Protection {
				v = "1"
				switch {
				case h.ModeBlock:
					v += "; mode=block"
				case h.ReportURI != "":
					v += "; report=" + h.ReportURI
				}
			}
			add("X-XSS-Protection", v, h.Override)
		}
		if h := s.ContentSecurityPolicy; h != nil {
			add("Content-Security-Policy", h.ContentSecurityPolicy, h.Override)
		}
	}
	for _, ch := range p.CustomHeadersConfig {
		add(ch.Header, ch.Value, ch.Override)
	}
	if c := p.CORSConfig; c != nil {
		hp.cors = compileCORS(c)
	}
	if st := p.ServerTimingHeadersConfig; st != nil && st.Enabled {
		hp.timing = true
		if st.SamplingRate != nil {
			hp.timingRate = *st.SamplingRate / 100
		}
		hp.popMetric = `cdn-pop;desc="` + pop + `"`
	}
	return hp
}

func compileCORS(c *config.CORSConfig) *corsPolicy {
	cp := &corsPolicy{exact: make(map[string]bool), override: c.OriginOverride, answerPreflight: c.OriginOverride}
	for _, o := range c.AccessControlAllowOrigins {
		if o == "*" {
			cp.anyOrigin = true
			continue
		}
		o = strings.ToLower(o)
		scheme, rest, ok := strings.Cut(o, "://")
		if !ok {
			scheme, rest = "", o
		}
		if host, ok := strings.CutPrefix(rest, "*."); ok {
			pat := originPattern{scheme: scheme, suffix: "." + host}
			if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host, "]") {
				pat.suffix, pat.port = "."+host[:i], host[i+1:]
			}
			cp.wildcards = append(cp.wildcards, pat)
			continue
		}
		if scheme == "" {
			cp.exact["http://"+rest] = true
			cp.exact["https://"+rest] = true
		} else {
			cp.exact[o] = true
		}
	}
	if c.AccessControlAllowCredentials {
		cp.credentials = []string{"true"}
	}
	if len(c.AccessControlAllowHeaders) > 0 {
		cp.allowHeaders = []string{strings.Join(c.AccessControlAllowHeaders, ", ")}
	}
	if len(c.AccessControlAllowMethods) > 0 {
		v := strings.Join(c.AccessControlAllowMethods, ", ")
		if v == "ALL" {
			v = allCORSMethods
		}
		cp.allowMethods = []string{v}
	}
	if len(c.AccessControlExposeHeaders) > 0 {
		cp.exposeHeaders = []string{strings.Join(c.AccessControlExposeHeaders, ", ")}
	}
	if c.AccessControlMaxAgeSec != nil {
		cp.maxAge = []string{strconv.FormatInt(*c.AccessControlMaxAgeSec, 10)}
	}
	return cp
}

// allows reports whether the policy allows a request's Origin, and the
// Access-Control-Allow-Origin value to send: "*", or the origin itself.
func (c *corsPolicy) allows(origin string) (value []string, ok bool) {
	if c.anyOrigin {
		return anyOriginValue, true
	}
	lower := strings.ToLower(origin)
	if c.exact[lower] {
		return []string{origin}, true
	}
	scheme, host, found := strings.Cut(lower, "://")
	if !found {
		return nil, false // "null", or not an origin
	}
	for _, w := range c.wildcards {
		if w.scheme != "" && w.scheme != scheme {
			continue
		}
		h := host
		if w.port != "" {
			var cut bool
			if h, cut = strings.CutSuffix(host, ":"+w.port); !cut {
				continue
			}
		} else if strings.IndexByte(h, ':') >= 0 {
			continue
		}
		if len(h) > len(w.suffix) && strings.HasSuffix(h, w.suffix) {
			return []string{origin}, true
		}
	}
	return nil, false
}

// isPreflight reports a CORS preflight request (Fetch standard, "CORS-
// preflight request"): OPTIONS with Origin and
// Access-Control-Request-Method.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && len(r.Header["Origin"]) > 0 &&
		len(r.Header["Access-Control-Request-Method"]) > 0
}

// apply writes the policy into the response head h of x, just before it
// goes out.
func (p *headerPolicy) apply(x *exchange, h http.Header) {
	for _, n := range p.remove {
		delete(h, n)
	}
	for i := range p.fields {
		f := &p.fields[i]
		if f.override || len(h[f.name]) == 0 {
			h[f.name] = f.value
		}
	}
	if p.cors != nil {
		// After the custom headers: one of them may be Vary, and the
		// Origin that CORS adds to it must stay.
		p.cors.apply(x.r, h)
	}
	if p.timing && (p.timingRate >= 1 || rand.Float64() < p.timingRate || headerHasToken(x.r.Header["Pragma"], "server-timing")) {
		p.serverTiming(x, h, time.Now())
	}
}

// apply adds the CORS headers to the response to a CORS request (one with
// an Origin the policy allows); others get none.
func (c *corsPolicy) apply(r *http.Request, h http.Header) {
	if !c.anyOrigin {
		// The answer depends on the request's Origin, so every response,
		// also one to a request without Origin, says so: a browser cache
		// must not answer a CORS request with it (Fetch standard, "CORS
		// protocol and HTTP caches").
		addVary(h, "Origin")
	}
	origin := r.Header["Origin"]
	if len(origin) == 0 {
		return
	}
	acao, ok := c.allows(origin[0])
	if !ok {
		return
	}
	set := func(name string, v []string) {
		if v != nil && (c.override || len(h[name]) == 0) {
			h[name] = v
		}
	}
	set(hdrAllowOrigin, acao)
	set(hdrAllowCredentials, c.credentials)
	if isPreflight(r) {
		set(hdrAllowMethods, c.allowMethods)
		set(hdrAllowHeaders, c.allowHeaders)
		set(hdrMaxAge, c.maxAge)
	} else {
		set(hdrExposeHeaders, c.exposeHeaders)
	}
}

// addVary adds a field name to Vary unless it is there (or Vary is "*").
// It builds a new value slice: the old one may be shared with the cache.
func addVary(h http.Header, name string) {
	old := h["Vary"]
	if headerHasToken(old, name) || headerHasToken(old, "*") {
		return
	}
	if len(old) == 0 {
		h["Vary"] = []string{name}
		return
	}
	h["Vary"] = []string{strings.Join(old, ", ") + ", " + name}
}

// serverTiming sets Server-Timing with CloudFront's metrics; now is when
// the head goes out (cdn-downstream-fbl). On a miss the origin's own value
// comes first; a hit carries the edge's metrics only, as in CloudFront.
func (p *headerPolicy) serverTiming(x *exchange, h http.Header, now time.Time) {
	b := make([]byte, 0, 192)
	if prior := h[hdrServerTiming]; len(prior) > 0 && x.result != resultHit {
		b = append(b, strings.Join(prior, ", ")...)
		b = append(b, ", "...)
	}
	r := x.result
	if r == resultError {
		// An origin's error status keeps what the edge did in detail.
		switch x.detail {
		case resultHit.String():
			r = resultHit
		case resultRefreshHit.String():
			r = resultRefreshHit
		case resultMiss.String():
			r = resultMiss
		}
	}
	switch r {
	case resultHit:
		b = append(b, "cdn-cache-hit,"...)
	case resultRefreshHit:
		b = append(b, "cdn-cache-refresh,"...)
	case resultMiss:
		b = append(b, "cdn-cache-miss,"...)
	}
	b = append(b, p.popMetric...)
	b = append(b, `,cdn-rid;desc="`...)
	b = append(b, x.id...)
	b = append(b, '"')
	if r == resultHit {
		// Served from the cache, also to a viewer who waited on another's
		// fetch: no upstream metrics, as in CloudFront.
		b = append(b, `,cdn-hit-layer;desc="EDGE"`...)
	} else if u := x.upstream; u.fetched {
		if r == resultMiss && u.origin {
			// This node asked the origin for the whole object.
			b = append(b, `,cdn-upstream-layer;desc="EDGE"`...)
		}
		b = append(b, ",cdn-upstream-dns;dur="...)
		b = strconv.AppendInt(b, u.dns.Milliseconds(), 10)
		b = append(b, ",cdn-upstream-connect;dur="...)
		b = strconv.AppendInt(b, u.connect.Milliseconds(), 10)
		b = append(b, ",cdn-upstream-fbl;dur="...)
		b = strconv.AppendInt(b, u.fbl.Milliseconds(), 10)
	}
	b = append(b, ",cdn-downstream-fbl;dur="...)
	b = strconv.AppendInt(b, now.Sub(x.start).Milliseconds(), 10)
	h[hdrServerTiming] = []string{string(b)}
}

// upstreamTiming is what a fetch from upstream (the origin, or another
// tier) took, for Server-Timing's cdn-upstream-* metrics.
type upstreamTiming struct {
	dns     time.Duration // resolving the upstream's name (cdn-upstream-dns)
	connect time.Duration // then connecting, TLS included (cdn-upstream-connect)
	fbl     time.Duration // from sending the request to its response head (cdn-upstream-fbl)
	fetched bool          // upstream answered: the metrics mean something
	origin  bool          // upstream was the origin, not another Tern node
}

// timingOf is what fetching resp took; fromOrigin says whether it came
// from the origin itself.
func timingOf(resp *origin.Response, fromOrigin bool) upstreamTiming {
	return upstreamTiming{dns: resp.DNSTime, connect: resp.ConnectTime, fbl: resp.ResponseTime.Sub(resp.RequestTime),
		fetched: true, origin: fromOrigin}
}

// answerPreflight answers a CORS preflight request from the behavior's
// response headers policy, without the origin: its cors_config has
// origin_override, so the origin's answer would be replaced anyway.
func (s *Server) answerPreflight(x *exchange) {
	h := x.w.Header()
	x.result = resultHit
	x.detail = "PreflightHit"
	s.decorate(x, h)
	h["Content-Length"] = []string{"0"}
	x.w.WriteHeader(http.StatusOK) // the policy's CORS headers go in here
}
