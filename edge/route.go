package edge

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/terncdn/tern/cache"
	"github.com/terncdn/tern/certs"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/origin"
)

// routes is one configuration compiled for the request path: every lookup a
// request makes (host → distribution, path → behavior) is a map access or a
// short scan, with no parsing per request. A new configuration builds a new
// routes and swaps it in atomically; requests in flight keep the old one.
type routes struct {
	exact     map[string]*distribution // alias (lower case) → distribution
	wildcards []wildcardAlias          // "*.example.com", longest suffix first
	labels    map[string]*distribution // generated label ("d1a2b3c4") → distribution
	catchAll  *distribution            // aliases empty or "*"

	// Whose client IP header names the viewer (viewer.go):
	// edge.trusted_proxies and edge.client_ip_header.
	trustedProxies []netip.Prefix
	clientIPHeader string
}

type wildcardAlias struct {
	suffix string // ".example.com"
	dist   *distribution
}

type distribution struct {
	id                string
	defaultRootObject string // "/index.html", or ""
	// tlsPolicy is the distribution's security policy (its own, else
	// edge.tls.security_policy): what an HTTPS request's connection must
	// have negotiated for the distribution to answer it.
	tlsPolicy      certs.Policy
	behaviors      []*behavior
	errorResponses map[int]*errorResponse
}

type errorResponse struct {
	pagePath     string // "" = keep the origin's (or edge's) body
	responseCode int    // 0 = keep the status
}

type behavior struct {
	pattern        string // CloudFront path pattern; "" for the default behavior
	target         *origin.Target
	viewerProtocol string // allow-all, redirect-to-https, https-only
	allowed        methodSet
	cached         methodSet
	cachingOff     bool // the cache policy's max TTL is 0: never stored, never collapsed
	key            cache.KeyPolicy
	keyHost        bool // the key has the Host header (see serveCached)
	ttl            cache.TTLPolicy
	forward        origin.Forwarding
	// Tiered caching (tier.go): whether misses may go through peers and
	// shields (the viewer protocol policy is allow-all), whether the
	// primary origin matches the viewer's scheme, the POP whose shields
	// the primary origin is fetched through ("" for none), and how long a
	// node may take to answer for the target.
	tierable     bool
	matchViewer  bool
	shieldRegion string
	tierTimeout  time.Duration
	// cloudFrontNames are the CloudFront-* headers the behavior's policies
	// name (canonical spelling), and viewerHeaders those of them the edge
	// can add (viewer.go). Only these CloudFront-* fields leave the edge.
	cloudFrontNames []string
	viewerHeaders   viewerHeader
	// headers is the response headers policy (respheaders.go), nil for none.
	headers *headerPolicy
	// compress: the edge compresses responses itself (compress.go), with
	// the codings key enables; the key's Accept-Encoding part is then the
	// one coding chosen for the viewer.
	compress bool
}

// methodSet is a bit set of the methods CloudFront lets a behavior allow.
type methodSet uint8

const (
	mGET methodSet = 1 << iota
	mHEAD
	mOPTIONS
	mPUT
	mPOST
	mPATCH
	mDELETE
)

func methodBit(m string) methodSet {
	switch m {
	case "GET":
		return mGET
	case "HEAD":
		return mHEAD
	case "OPTIONS":
		return mOPTIONS
	case "PUT":
		return mPUT
	case "POST":
		return mPOST
	case "PATCH":
		return mPATCH
	case "DELETE":
		return mDELETE
	}
	return 0
}

func (s methodSet) has(m string) bool { return s&methodBit(m) != 0 }

func methodsOf(list []string, def methodSet) methodSet {
	if len(list) == 0 {
		return def
	}
	var s methodSet
	for _, m := range list {
		s |= methodBit(strings.ToUpper(m))
	}
	return s
}

// cloudFrontErrorStatuses are the origin statuses CloudFront caches for the
// error caching minimum TTL (10 s unless a custom error response says
// otherwise) when the origin gives no freshness of its own.
var cloudFrontErrorStatuses = []int{400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504}

const defaultErrorCachingTTL = 10 * time.Second

// compile turns a validated configuration into routes. The origin client
// keeps one connection pool per *origin.Origin, so each compiled origin is
// one pool.
//
// prev is the running configuration's origins by distribution and origin
// id: an origin whose settings did not change is reused, so a reload keeps
// its warm connections. compile records what it used in origins.
func compile(cfg *config.Config, prev map[string]*origin.Origin) (rt *routes, origins map[string]*origin.Origin, err error) {
	rt = &routes{
		exact:          make(map[string]*distribution),
		labels:         make(map[string]*distribution),
		trustedProxies: cfg.Edge.TrustedProxyPrefixes(),
		clientIPHeader: http.CanonicalHeaderKey(cfg.Edge.ClientIPHeader),
	}
	origins = make(map[string]*origin.Origin)
	for _, dc := range cfg.Distributions {
		if !dc.IsEnabled() {
			continue
		}
		d, err := compileDistribution(dc, prev, origins, cfg.Edge.POP)
		if err != nil {
			return nil, nil, fmt.Errorf("distribution %q: %w", dc.ID, err)
		}
		policy := cmp.Or(dc.SecurityPolicy, cfg.Edge.TLS.SecurityPolicy, config.DefaultSecurityPolicy)
		if d.tlsPolicy, err = certs.PolicyFor(policy); err != nil {
			return nil, nil, fmt.Errorf("distribution %q: %w", dc.ID, err)
		}
		// Like CloudFront's d111111abcdef8.cloudfront.net, every enabled
		// distribution is served at its generated name. The edge does not
		// know the router's zone, so the first label decides: the router
		// answers <label>.<zone>, and its HTTP mode sends clients to
		// <label>.<pop>.<zone> (config.Validate refuses two distributions
		// with one label).
		rt.labels[config.GeneratedLabel(dc.ID)] = d
		if len(dc.Aliases) == 0 {
			rt.catchAll = d
		}
		for _, a := range dc.Aliases {
			a = strings.ToLower(a)
			switch {
			case a == "*":
				rt.catchAll = d
			case strings.HasPrefix(a, "*."):
				rt.wildcards = append(rt.wildcards, wildcardAlias{suffix: a[1:], dist: d})
			default:
				rt.exact[a] = d
			}
		}
	}
	// Longest suffix first, so "*.img.example.com" wins over "*.example.com".
	for i := 1; i < len(rt.wildcards); i++ {
		for j := i; j > 0 && len(rt.wildcards[j].suffix) > len(rt.wildcards[j-1].suffix); j-- {
			rt.wildcards[j], rt.wildcards[j-1] = rt.wildcards[j-1], rt.wildcards[j]
		}
	}
	return rt, origins, nil
}

// Check reports what would keep a valid configuration from being applied
// on this node, as Apply would: files it names that cannot be read or
// parsed here (an origin's tls.ca_file).
func Check(cfg *config.Config) error {
	_, _, err := compile(cfg, nil)
	return err
}

func compileDistribution(dc *config.Distribution, prev, used map[string]*origin.Origin, pop string) (*distribution, error) {
	d := &distribution{id: dc.ID, errorResponses: make(map[int]*errorResponse)}
	if dc.DefaultRootObject != "" {
		d.defaultRootObject = "/" + strings.TrimPrefix(dc.DefaultRootObject, "/")
	}
	origins := make(map[string]*origin.Origin)
	for _, oc := range dc.Origins {
		o, err := compileOrigin(oc)
		if err != nil {
			return nil, fmt.Errorf("origin %q: %w", oc.ID, err)
		}
		id := dc.ID + "\x00" + oc.ID
		if old := prev[id]; old != nil && reflect.DeepEqual(old, o) {
			o = old
		}
		origins[oc.ID], used[id] = o, o
	}
	targets := make(map[string]*origin.Target)
	for id, o := range origins {
		targets[id] = &origin.Target{ID: id, Members: []*origin.Origin{o}}
	}
	for _, g := range dc.OriginGroups {
		t := &origin.Target{ID: g.ID, FailoverStatus: make(map[int]bool)}
		for _, m := range g.Members {
			o, ok := origins[m]
			if !ok {
				return nil, fmt.Errorf("origin group %q: no origin %q", g.ID, m)
			}
			t.Members = append(t.Members, o)
		}
		for _, c := range g.FailoverCriteria.StatusCodes {
			t.FailoverStatus[c] = true
		}
		targets[g.ID] = t
	}

	errTTL := make(map[int]time.Duration, len(cloudFrontErrorStatuses))
	for _, s := range cloudFrontErrorStatuses {
		errTTL[s] = defaultErrorCachingTTL
	}
	for _, e := range dc.CustomErrorResponses {
		if e.ErrorCachingMinTTL != nil {
			errTTL[e.ErrorCode] = time.Duration(*e.ErrorCachingMinTTL) * time.Second
		}
		if e.ResponsePagePath != "" || e.ResponseCode != 0 {
			d.errorResponses[e.ErrorCode] = &errorResponse{pagePath: e.ResponsePagePath, responseCode: e.ResponseCode}
		}
	}

	all := append(append([]*config.CacheBehavior{}, dc.CacheBehaviors...), dc.DefaultCacheBehavior)
	for _, bc := range all {
		t, ok := targets[bc.TargetOriginID]
		if !ok {
			return nil, fmt.Errorf("behavior %q: no origin or origin group %q", bc.PathPattern, bc.TargetOriginID)
		}
		b := &behavior{
			pattern:        bc.PathPattern, // config adds the leading "/"
			target:         t,
			viewerProtocol: bc.ViewerProtocolPolicy,
			allowed:        methodsOf(bc.AllowedMethods, mGET|mHEAD),
			cached:         methodsOf(bc.CachedMethods, mGET|mHEAD),
			tierable:       bc.ViewerProtocolPolicy == "" || bc.ViewerProtocolPolicy == config.ViewerAllowAll,
			matchViewer:    t.Members[0].ProtocolPolicy == origin.MatchViewer || t.Members[0].ProtocolPolicy == "",
			tierTimeout:    tierResponseTimeout(t),
		}
		// An origin group is shielded as its primary is.
		if oc, ok := dc.Origin(t.Members[0].ID); ok {
			b.shieldRegion = oc.ShieldRegion()
		}
		cp := bc.CachePolicy.Policy
		minTTL, defTTL, maxTTL := cp.TTLs()
		b.ttl = cache.TTLPolicy{
			MinTTL: minTTL, DefaultTTL: defTTL, MaxTTL: maxTTL,
			OriginControlled:   cp.OriginControlled,
			ErrorCachingMinTTL: errTTL,
		}
		b.cachingOff = !cp.OriginControlled && maxTTL == 0
		b.key = cache.KeyPolicy{
			Headers:              cache.KeySelection(cp.Headers),
			Cookies:              cache.KeySelection(cp.Cookies),
			QueryStrings:         cache.KeySelection(cp.QueryStrings),
			AcceptEncodingGzip:   cp.EnableAcceptEncodingGzip,
			AcceptEncodingBrotli: cp.EnableAcceptEncodingBrotli,
			AcceptEncodingZstd:   cp.EnableAcceptEncodingZstd,
			ChooseEncoding:       bc.Compress,
		}
		b.keyHost = b.key.Headers.SelectsHeader("Host")
		b.compress = bc.Compress && b.key.AcceptsEncodings()
		keyFwd := origin.Forwarding{
			Headers:      origin.Selection(cp.Headers),
			Cookies:      origin.Selection(cp.Cookies),
			QueryStrings: origin.Selection(cp.QueryStrings),
		}
		var reqFwd origin.Forwarding
		if bc.OriginRequestPolicy != nil && bc.OriginRequestPolicy.Policy != nil {
			rp := bc.OriginRequestPolicy.Policy
			reqFwd = origin.Forwarding{
				Headers:      origin.Selection(rp.Headers),
				Cookies:      origin.Selection(rp.Cookies),
				QueryStrings: origin.Selection(rp.QueryStrings),
			}
		}
		b.forward = origin.Merge(keyFwd, reqFwd)
		// The CloudFront-* headers the edge adds: those the cache key
		// names and those the merged forwarding names (a whitelist, or the
		// list of allViewerAndWhitelistCloudFront). allViewer and allExcept
		// select viewer headers only, as in CloudFront.
		if cp.Headers.Behavior == config.SelectWhitelist {
			b.cloudFrontNames = appendCloudFrontNames(b.cloudFrontNames, cp.Headers.Names)
		}
		switch b.forward.Headers.Behavior {
		case origin.Whitelist, origin.AllViewerAndWhitelistCloudFront:
			b.cloudFrontNames = appendCloudFrontNames(b.cloudFrontNames, b.forward.Headers.Names)
		}
		b.viewerHeaders = viewerHeadersNamed(b.cloudFrontNames)
		if r := bc.ResponseHeadersPolicy; r != nil {
			b.headers = compileHeaderPolicy(r.Policy, pop)
		}
		d.behaviors = append(d.behaviors, b)
	}
	return d, nil
}

// compileOrigin turns one configured origin into the client's. It reads
// tls.ca_file, so that a reload picks up a changed file (the PEM is part
// of the Origin that compile compares with the running one).
func compileOrigin(oc *config.Origin) (*origin.Origin, error) {
	o := &origin.Origin{
		ID:                 oc.ID,
		DomainName:         oc.DomainName,
		HTTPPort:           oc.HTTPPort,
		HTTPSPort:          oc.HTTPSPort,
		ProtocolPolicy:     oc.ProtocolPolicy,
		OriginPath:         oc.OriginPath,
		ConnectionAttempts: oc.ConnectionAttempts,
		ConnectionTimeout:  time.Duration(oc.ConnectionTimeout),
		ResponseTimeout:    time.Duration(oc.ResponseTimeout),
		KeepaliveTimeout:   time.Duration(oc.KeepaliveTimeout),
		HTTP2:              oc.HTTP2,
	}
	if t := oc.TLS; t != nil {
		o.ServerName = t.ServerName
		o.MinTLSVersion = t.MinVersion()
		o.NoSystemRoots = !t.UsesSystemRoots()
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, fmt.Errorf("tls.ca_file: %w", err)
			}
			certs, err := origin.ParseCAPEM(pem)
			if err == nil && len(certs) == 0 {
				err = errors.New("no PEM certificates in the file")
			}
			if err != nil {
				return nil, fmt.Errorf("tls.ca_file %s: %w", t.CAFile, err)
			}
			o.CAPEM = pem
		}
	}
	names := make([]string, 0, len(oc.CustomHeaders))
	for name := range oc.CustomHeaders {
		names = append(names, name)
	}
	sort.Strings(names) // a stable order, so an unchanged origin compares equal
	for _, name := range names {
		o.CustomHeaders = append(o.CustomHeaders, origin.Field{Name: name, Value: oc.CustomHeaders[name]})
	}
	return o, nil
}

// distributionFor picks the distribution for a Host header: an exact alias,
// then the longest matching "*." wildcard, then a generated name (a host
// whose first label is a distribution's generated label, with at least one
// label after it), then the catch-all.
func (rt *routes) distributionFor(host string) *distribution {
	host = strings.TrimSuffix(hostOnly(host), ".")
	if d := rt.exact[host]; d != nil {
		return d
	}
	if len(rt.exact) > 0 || len(rt.wildcards) > 0 {
		lower := strings.ToLower(host)
		if d := rt.exact[lower]; d != nil {
			return d
		}
		for _, w := range rt.wildcards {
			if strings.HasSuffix(lower, w.suffix) && len(lower) > len(w.suffix) {
				return w.dist
			}
		}
	}
	// A generated label is "d" and 8 hex digits: only a host of that shape
	// pays for the lower-casing and the map lookup.
	if len(host) > 10 && host[9] == '.' && host[0]|0x20 == 'd' {
		if d := rt.labels[strings.ToLower(host[:9])]; d != nil {
			return d
		}
	}
	return rt.catchAll
}

// hostOnly strips the port from a Host header value ("a.example:8080",
// "[::1]:8080"), without net.SplitHostPort's allocation for a value that
// has no port.
func hostOnly(host string) string {
	if strings.HasPrefix(host, "[") {
		if end := strings.IndexByte(host, ']'); end > 0 {
			return host[1:end]
		}
		return host
	}
	if i := strings.IndexByte(host, ':'); i >= 0 && strings.IndexByte(host[i+1:], ':') < 0 {
		return host[:i]
	}
	return host
}

// normalizePath applies RFC 3986 §6.2.2.2 to an escaped path: percent-
// encoded unreserved characters are decoded and other escapes upper-cased.
// Behaviors match, keys form and origins receive this one spelling, so
// "/%61dmin/x" cannot slip past an "/admin/*" behavior that the origin
// would serve it from. A path without '%' is returned as it is.
func normalizePath(p string) string {
	i := strings.IndexByte(p, '%')
	if i < 0 {
		return p
	}
	b := make([]byte, 0, len(p))
	b = append(b, p[:i]...)
	for ; i < len(p); i++ {
		c := p[i]
		if c != '%' || i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			b = append(b, c)
			continue
		}
		v := unhex(p[i+1])<<4 | unhex(p[i+2])
		if isUnreserved(v) {
			b = append(b, v)
		} else {
			b = append(b, '%', upperHex(p[i+1]), upperHex(p[i+2]))
		}
		i += 2
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func upperHex(c byte) byte {
	if 'a' <= c && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}

// isUnreserved reports RFC 3986 §2.3 unreserved characters.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// behaviorFor returns the first behavior whose pattern matches path; the
// default behavior is last and matches everything.
func (d *distribution) behaviorFor(path string) *behavior {
	for _, b := range d.behaviors {
		if b.pattern == "" || config.MatchPath(b.pattern, path) {
			return b
		}
	}
	return d.behaviors[len(d.behaviors)-1]
}
