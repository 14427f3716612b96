package config

// Distribution is one site: the host names it answers for, where its
// content comes from, and how each path is cached.
type Distribution struct {
	// ID names the distribution in logs, metrics, invalidations and the
	// API. Required, unique. Letters, digits, ".", "-" and "_", starting
	// with a letter or digit, at most 128 characters.
	ID string `yaml:"id"`
	// Comment describes the distribution, at most 128 characters.
	Comment string `yaml:"comment,omitempty"`
	// Aliases are the host names (CloudFront's alternate domain names) the
	// distribution answers for, compared without regard to case. A name may
	// start with "*." to match subdomains, as in CloudFront. An empty
	// list, or the single alias "*", answers any host not claimed by
	// another distribution; only one distribution may do so. An alias may
	// belong to one distribution only.
	Aliases []string `yaml:"aliases,omitempty"`
	// Enabled lets the distribution serve. Default true; a disabled
	// distribution keeps its aliases but does not answer.
	Enabled *bool `yaml:"enabled,omitempty"`
	// Certificate is the distribution's certificate for HTTPS viewers
	// whose handshake names one of its aliases (SNI): {cert_file,
	// key_file} (PEM files on each edge) or {acme: true}. Default none:
	// the certificate whose names cover the host, else
	// edge.tls.default_certificate.
	Certificate *Certificate `yaml:"certificate,omitempty"`
	// SecurityPolicy overrides edge.tls.security_policy for handshakes
	// that name one of the distribution's aliases (SNI). Default "": the
	// edge's.
	SecurityPolicy string `yaml:"security_policy,omitempty"`
	// DefaultRootObject is the object served for a request for the root
	// ("/"), e.g. "index.html", without a leading "/". Default "" (the
	// root is passed to the origin as is).
	DefaultRootObject string `yaml:"default_root_object,omitempty"`
	// Origins are the servers the content comes from. At least one.
	Origins []*Origin `yaml:"origins"`
	// OriginGroups pair a primary and a secondary origin for failover. A
	// behavior targets a group by its id like an origin.
	OriginGroups []*OriginGroup `yaml:"origin_groups,omitempty"`
	// DefaultCacheBehavior applies to requests that match no entry of
	// cache_behaviors. Required; it has no path_pattern.
	DefaultCacheBehavior *CacheBehavior `yaml:"default_cache_behavior"`
	// CacheBehaviors apply to the requests whose path matches their
	// path_pattern, in order: the first match wins.
	CacheBehaviors []*CacheBehavior `yaml:"cache_behaviors,omitempty"`
	// CustomErrorResponses replace or cache origin errors, per status.
	CustomErrorResponses []*CustomErrorResponse `yaml:"custom_error_responses,omitempty"`
}

// IsEnabled reports whether the distribution serves requests.
func (d *Distribution) IsEnabled() bool { return d.Enabled == nil || *d.Enabled }

// CatchAll reports whether the distribution answers hosts that no other
// distribution claims: it has no aliases, or the single alias "*".
func (d *Distribution) CatchAll() bool {
	return len(d.Aliases) == 0 || (len(d.Aliases) == 1 && d.Aliases[0] == "*")
}

// Origin returns the origin with the given id.
func (d *Distribution) Origin(id string) (*Origin, bool) {
	for _, o := range d.Origins {
		if o != nil && o.ID == id {
			return o, true
		}
	}
	return nil, false
}

// OriginGroup returns the origin group with the given id.
func (d *Distribution) OriginGroup(id string) (*OriginGroup, bool) {
	for _, g := range d.OriginGroups {
		if g != nil && g.ID == id {
			return g, true
		}
	}
	return nil, false
}

// BehaviorFor returns the behavior for a request path (the URL path, with
// its leading "/", without the query): the first of CacheBehaviors whose
// path_pattern matches, else DefaultCacheBehavior. It does not allocate.
func (d *Distribution) BehaviorFor(path string) *CacheBehavior {
	for _, b := range d.CacheBehaviors {
		if MatchPath(b.PathPattern, path) {
			return b
		}
	}
	return d.DefaultCacheBehavior
}

// behaviors returns the default behavior and then the others; nil ones
// are left out.
func (d *Distribution) behaviors() []*CacheBehavior {
	bs := make([]*CacheBehavior, 0, len(d.CacheBehaviors)+1)
	if d.DefaultCacheBehavior != nil {
		bs = append(bs, d.DefaultCacheBehavior)
	}
	for _, b := range d.CacheBehaviors {
		if b != nil {
			bs = append(bs, b)
		}
	}
	return bs
}

// Origin protocol policies.
const (
	OriginHTTPOnly    = "http-only"
	OriginHTTPSOnly   = "https-only"
	OriginMatchViewer = "match-viewer"
)

// Origin is one server content is fetched from (a CloudFront custom origin).
type Origin struct {
	// ID names the origin within its distribution; behaviors and origin
	// groups refer to it. Required, unique within the distribution, and
	// different from every origin group id. Letters, digits, ".", "-" and
	// "_", starting with a letter or digit, at most 128 characters.
	ID string `yaml:"id"`
	// DomainName is the origin's host name or IP address, without scheme,
	// port or path: "www.example.com", "10.0.0.7", "::1". Required.
	DomainName string `yaml:"domain_name"`
	// HTTPPort is the port for plain HTTP. Default 80.
	HTTPPort int `yaml:"http_port"`
	// HTTPSPort is the port for HTTPS. Default 443.
	HTTPSPort int `yaml:"https_port"`
	// ProtocolPolicy is how Tern connects to the origin: http-only
	// (default), https-only, or match-viewer (the viewer's scheme).
	ProtocolPolicy string `yaml:"protocol_policy"`
	// OriginPath is prefixed to every request path sent to the origin:
	// "/production" sends /production/img/a.png for /img/a.png. Default ""
	// (none). It starts with "/" and does not end with "/".
	OriginPath string `yaml:"origin_path,omitempty"`
	// CustomHeaders are added to every request sent to the origin,
	// replacing a viewer's header of the same name. As in CloudFront, they
	// may not set hop-by-hop headers or ones Tern manages itself: Cache-
	// Control, Connection, Content-Length, Cookie, Host, If-Match,
	// If-Modified-Since, If-None-Match, If-Range, If-Unmodified-Since,
	// Keep-Alive, Max-Forwards, Pragma, Proxy-Authenticate,
	// Proxy-Authorization, Proxy-Connection, Range, Request-Range, TE,
	// Trailer, Transfer-Encoding, Upgrade, Via, X-Forwarded-For, X-Real-IP,
	// or anything starting with X-Amz- or X-Edge-.
	CustomHeaders map[string]string `yaml:"custom_headers,omitempty"`
	// ConnectionAttempts is how many times Tern tries to connect before it
	// gives up on the origin (or fails over to the group's secondary): 1
	// to 3. Default (or 0) 3.
	ConnectionAttempts int `yaml:"connection_attempts"`
	// ConnectionTimeout bounds each connection attempt. Seconds or a
	// duration, above 0 and at most 10s. Default (or 0) 10s.
	ConnectionTimeout Duration `yaml:"connection_timeout"`
	// ResponseTimeout bounds the wait for the origin's response head, and
	// then each wait between body reads. Above 0 and at most 180s.
	// Default (or 0) 30s.
	ResponseTimeout Duration `yaml:"response_timeout"`
	// KeepaliveTimeout is how long an idle connection to the origin is
	// kept for reuse. Above 0 and at most 180s. Default (or 0) 5s.
	KeepaliveTimeout Duration `yaml:"keepalive_timeout"`
	// OriginShield, as in CloudFront, puts a regional cache in front of
	// the origin: misses for it go through the shield-role nodes
	// (edge.role: shield) of the POP named as region, so that the origin
	// sees each object about once for all POPs. Default: no shield. For an
	// origin group, the primary's origin_shield applies.
	OriginShield *OriginShield `yaml:"origin_shield,omitempty"`
	// TLS configures HTTPS to the origin (protocol_policy https-only, or
	// match-viewer): trusted CAs, server name, oldest TLS version. See
	// OriginTLS. Default: the system roots, CloudFront's server name,
	// TLSv1.2 or later; the certificate is always verified.
	TLS *OriginTLS `yaml:"tls,omitempty"`
	// HTTP2 offers HTTP/2 to the origin over HTTPS (ALPN "h2", then
	// "http/1.1"): an origin that accepts it gets every request on one
	// multiplexed connection; one that does not gets HTTP/1.1 as before.
	// Plain HTTP is always HTTP/1.1 (no h2c), and WebSocket upgrades go
	// over HTTP/1.1. Default false: CloudFront speaks HTTP/1.1 to custom
	// origins, and so does Tern unless asked.
	HTTP2 bool `yaml:"http2,omitempty"`
}

// OriginShield is an origin's regional shield.
type OriginShield struct {
	// Enabled turns the shield on.
	Enabled bool `yaml:"enabled"`
	// Region is the POP whose shield-role nodes serve as this origin's
	// shield, e.g. "fra". Required when enabled; an id (letters, digits,
	// ".", "-", "_").
	Region string `yaml:"region,omitempty"`
}

// ShieldRegion is the POP whose shields this origin is fetched through,
// or "" without an enabled origin_shield.
func (o *Origin) ShieldRegion() string {
	if o == nil || o.OriginShield == nil || !o.OriginShield.Enabled {
		return ""
	}
	return o.OriginShield.Region
}

// OriginGroup is a primary and a secondary origin: when the primary fails
// (cannot be reached, times out, or answers a status listed in
// failover_criteria), the request is retried on the secondary. As in
// CloudFront, failover applies to GET, HEAD and OPTIONS requests.
type OriginGroup struct {
	// ID names the group; behaviors target it as target_origin_id.
	// Required, unique, and different from every origin id.
	ID string `yaml:"id"`
	// Members are exactly two origin ids of the same distribution: the
	// primary, then the secondary.
	Members []string `yaml:"members"`
	// FailoverCriteria lists the origin statuses that cause failover.
	FailoverCriteria FailoverCriteria `yaml:"failover_criteria"`

	// Primary and Secondary are Members, resolved by Parse and Provision.
	Primary   *Origin `yaml:"-"`
	Secondary *Origin `yaml:"-"`
}

// FailoverCriteria selects the responses that fail a request over to the
// secondary origin.
type FailoverCriteria struct {
	// StatusCodes are the primary's statuses that cause failover: at least
	// one of 400, 403, 404, 416, 500, 502, 503 and 504.
	StatusCodes []int `yaml:"status_codes"`
}

// Viewer protocol policies.
const (
	ViewerAllowAll        = "allow-all"
	ViewerRedirectToHTTPS = "redirect-to-https"
	ViewerHTTPSOnly       = "https-only"
)

// CacheBehavior is how requests for a set of paths are routed and cached.
type CacheBehavior struct {
	// PathPattern selects the request paths this behavior handles, with
	// CloudFront's wildcards: "*" matches any run of characters (also
	// "/"), "?" exactly one. Matching is case-sensitive, on the path
	// without the query string. A leading "/" is added if missing:
	// "images/*.jpg" is "/images/*.jpg". Required in cache_behaviors, not
	// allowed in default_cache_behavior, and unique within a distribution.
	PathPattern string `yaml:"path_pattern,omitempty"`
	// TargetOriginID is the id of the origin or origin group requests go
	// to. Required; it must belong to the same distribution.
	TargetOriginID string `yaml:"target_origin_id"`
	// ViewerProtocolPolicy is which viewer schemes are served: allow-all
	// (default), redirect-to-https (HTTP gets a 301 to HTTPS), or
	// https-only (HTTP gets 403).
	ViewerProtocolPolicy string `yaml:"viewer_protocol_policy"`
	// AllowedMethods are the methods served; others get 405. One of
	// CloudFront's three sets, in any order: [GET, HEAD] (default),
	// [GET, HEAD, OPTIONS], or [GET, HEAD, OPTIONS, PUT, POST, PATCH,
	// DELETE]. Method names are case-sensitive (RFC 9110 §9.1).
	AllowedMethods []string `yaml:"allowed_methods"`
	// CachedMethods are the methods whose responses are cached: [GET,
	// HEAD] (default) or [GET, HEAD, OPTIONS], within allowed_methods.
	CachedMethods []string `yaml:"cached_methods"`
	// CachePolicy is the cache policy: the name of a managed or
	// user-defined policy, or an inline policy mapping. Default
	// Managed-CachingOptimized.
	CachePolicy *CachePolicyRef `yaml:"cache_policy"`
	// OriginRequestPolicy is the origin request policy, by name or inline.
	// Default none: only the cache key's values reach the origin.
	OriginRequestPolicy *OriginRequestPolicyRef `yaml:"origin_request_policy,omitempty"`
	// ResponseHeadersPolicy is the response headers policy: the name of a
	// managed or user-defined policy, a managed policy's CloudFront id,
	// or an inline policy mapping. Default none: responses go out with
	// the origin's headers and the edge's own.
	ResponseHeadersPolicy *ResponseHeadersPolicyRef `yaml:"response_headers_policy,omitempty"`
	// Compress is CloudFront's "compress objects automatically": the edge
	// compresses responses for viewers that accept it, with the codings
	// the cache policy enables (enable_accept_encoding_gzip, _brotli,
	// _zstd; with none enabled, nothing is compressed). The edge sends the
	// acceptable coding the viewer weighs highest, ties going to br, then
	// zstd, then gzip. It compresses a response that is 200, 403 or 404,
	// has no Content-Encoding, no Cache-Control: no-transform, a
	// compressible Content-Type (text, JSON, JavaScript, XML, SVG, fonts,
	// WebAssembly: CloudFront's list) and a body of 1,000 to 10,000,000
	// bytes. The origin is asked for the chosen coding: what it encodes
	// itself is kept and served as it is. The uncompressed copy is cached
	// once, and each coding is made from it once and cached beside it,
	// with a weak ETag (W/"..."). Responses that are not cached (caching
	// disabled, no-store, private, an unsafe method) or not compressed
	// whole first (no Content-Length, larger than the memory tier) are
	// compressed as they stream, chunk by chunk as the origin sends them,
	// at lighter levels and without Content-Length; a Range request for
	// one is passed through uncompressed; at most 256 such streams per
	// core are compressed at once, the rest go out uncompressed.
	// Managed-CachingDisabled enables no coding (as CloudFront's), so
	// nothing is compressed with it: a policy of your own with TTLs of 0
	// and the codings enabled compresses every response as it passes.
	// Compression of cached copies is best effort, as CloudFront's: the
	// edge makes as many at once as it has cores, and a viewer that would
	// wait more than a second for one gets the uncompressed copy (the
	// next one gets the coding). Default false.
	Compress bool `yaml:"compress,omitempty"`

	// Origin or OriginGroup (exactly one) is the target, resolved by Parse
	// and Provision.
	Origin      *Origin      `yaml:"-"`
	OriginGroup *OriginGroup `yaml:"-"`
}

// AllowsMethod reports whether method is in AllowedMethods.
func (b *CacheBehavior) AllowsMethod(method string) bool { return hasMethod(b.AllowedMethods, method) }

// CachesMethod reports whether responses to method are cached.
func (b *CacheBehavior) CachesMethod(method string) bool { return hasMethod(b.CachedMethods, method) }

func hasMethod(set []string, m string) bool {
	for _, s := range set {
		if s == m {
			return true
		}
	}
	return false
}

// CustomErrorResponse changes how one origin error status is served.
type CustomErrorResponse struct {
	// ErrorCode is the origin status this entry applies to, one of
	// CloudFront's: 400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504.
	// Required, unique within a distribution.
	ErrorCode int `yaml:"error_code"`
	// ResponsePagePath is the path of a page, fetched through this
	// distribution, served instead of the origin's error body, e.g.
	// "/errors/404.html". Optional; starts with "/". Requires
	// response_code.
	ResponsePagePath string `yaml:"response_page_path,omitempty"`
	// ResponseCode is the status sent to the viewer with the custom page:
	// 200 or a 4xx or 5xx status. Optional; requires response_page_path.
	ResponseCode int `yaml:"response_code,omitempty"`
	// ErrorCachingMinTTL is how long, in whole seconds, the error is cached
	// before the origin is asked again: 0 or more. Default 10.
	ErrorCachingMinTTL *int64 `yaml:"error_caching_min_ttl,omitempty"`
}

// MatchPath reports whether path matches a CloudFront path pattern: "*"
// matches any run of characters, including "/" and none at all, "?"
// exactly one; everything else matches itself, case-sensitively. It does
// not allocate.
func MatchPath(pattern, path string) bool {
	// Iterative glob with backtracking to the last "*": linear in practice,
	// O(len(pattern)*len(path)) at worst, never exponential.
	p, s := 0, 0
	star, mark := -1, 0
	for s < len(path) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == path[s]):
			p++
			s++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, s
			p++
		case star >= 0:
			p = star + 1
			mark++
			s = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
