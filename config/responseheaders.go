package config

// ResponseHeadersPolicy adds, replaces and removes headers in the responses
// the edge sends to viewers: CloudFront's response headers policy, with
// its fields (snake_case, as in CloudFormation and Terraform). It applies
// to every response of the behaviors that name it, hits, misses, redirects
// and errors alike (never to responses for other Tern nodes, whose
// viewer-facing edge applies its own), and never changes what is cached.
//
// Headers named in remove_headers_config are removed first; then the CORS,
// security and custom headers are added. A header the response already
// has (from the origin or the cache) is kept unless the setting's
// override (origin_override for CORS) is true.
type ResponseHeadersPolicy struct {
	// Name identifies the policy; behaviors refer to it by this name.
	// Letters, digits, "-" and "_", at most 128 characters. Required for
	// policies under response_headers_policies; may be left out inline.
	// Names starting with "Managed-" or "Tern-" are reserved.
	Name string `yaml:"name,omitempty"`
	// Comment describes the policy, at most 128 characters.
	Comment string `yaml:"comment,omitempty"`
	// CORSConfig adds the CORS headers (Fetch standard, "CORS protocol")
	// to responses to CORS requests: those that carry an Origin header.
	// Default: none.
	CORSConfig *CORSConfig `yaml:"cors_config,omitempty"`
	// SecurityHeadersConfig adds security headers to every response.
	// Default: none.
	SecurityHeadersConfig *SecurityHeadersConfig `yaml:"security_headers_config,omitempty"`
	// CustomHeadersConfig adds headers of your own to every response.
	// The header may not be one the edge manages itself (see
	// remove_headers_config) nor one of this policy's CORS or security
	// headers. Default: none.
	CustomHeadersConfig []CustomHeader `yaml:"custom_headers_config,omitempty"`
	// RemoveHeadersConfig names headers removed from every response, e.g.
	// X-Powered-By. As in CloudFront, these may not be removed:
	// Connection, Content-Encoding, Content-Length, Expect, Host,
	// Keep-Alive, Proxy-Authenticate, Proxy-Authorization,
	// Proxy-Connection, Trailer, Transfer-Encoding, Upgrade, Via, Warning,
	// X-Accel-*, X-Amz-Cf-*, X-Amzn-*, X-Cache, X-Edge-*,
	// X-Forwarded-Proto, X-Real-Ip, and Tern's own X-Tern-*. Removing Date
	// makes the edge send its own. Default: none.
	RemoveHeadersConfig []string `yaml:"remove_headers_config,omitempty"`
	// ServerTimingHeadersConfig adds a Server-Timing header with the
	// edge's timings (CloudFront's metric names: cdn-cache-hit,
	// cdn-cache-refresh, cdn-cache-miss, cdn-pop, cdn-rid, cdn-hit-layer,
	// cdn-downstream-fbl; and when the edge fetched for the response,
	// cdn-upstream-dns, cdn-upstream-connect (both 0 when it reused a
	// connection) and cdn-upstream-fbl, in milliseconds, with
	// cdn-upstream-layer "EDGE" on a miss it fetched from the origin
	// itself rather than through another Tern node). Default: none.
	ServerTimingHeadersConfig *ServerTimingHeadersConfig `yaml:"server_timing_headers_config,omitempty"`

	// ID is the CloudFront id of a managed policy, by which a behavior
	// may also name it; "" for user-defined policies.
	ID string `yaml:"-"`
	// Managed is true for the built-in policies (see
	// ManagedResponseHeadersPolicies).
	Managed bool `yaml:"-"`
}

// CORSConfig is a response headers policy's CORS headers.
type CORSConfig struct {
	// AccessControlAllowOrigins are the viewer origins allowed: "*" (any;
	// the response says "*"), an origin such as "https://www.example.com"
	// or "http://localhost:3000", or one whose host starts with "*." for
	// its subdomains ("https://*.example.com"); an entry without a scheme
	// ("www.example.com", "*.example.com") matches both http and https.
	// A request whose Origin matches an entry other than "*" gets its own
	// origin back; without "*", every response carries "Vary: Origin". A
	// request whose Origin matches none gets no CORS headers. Required.
	AccessControlAllowOrigins []string `yaml:"access_control_allow_origins"`
	// AccessControlAllowHeaders is Access-Control-Allow-Headers in
	// answers to preflight requests: header names, or "*". Default: none
	// (the header is not sent).
	AccessControlAllowHeaders []string `yaml:"access_control_allow_headers,omitempty"`
	// AccessControlAllowMethods is Access-Control-Allow-Methods in
	// answers to preflight requests: GET, DELETE, HEAD, OPTIONS, PATCH,
	// POST, PUT, or ALL (all of them). Default: none (not sent).
	AccessControlAllowMethods []string `yaml:"access_control_allow_methods,omitempty"`
	// AccessControlAllowCredentials sends "Access-Control-Allow-Credentials:
	// true" to CORS requests. Browsers refuse credentials with an allowed
	// origin of "*", so it cannot be combined with "*" in
	// access_control_allow_origins. Default false.
	AccessControlAllowCredentials bool `yaml:"access_control_allow_credentials,omitempty"`
	// AccessControlExposeHeaders is Access-Control-Expose-Headers in
	// responses to CORS requests that are not preflights: header names,
	// or "*". Default: none (not sent).
	AccessControlExposeHeaders []string `yaml:"access_control_expose_headers,omitempty"`
	// AccessControlMaxAgeSec is Access-Control-Max-Age, in seconds, in
	// answers to preflight requests: how long a browser may reuse one.
	// Default: none (not sent).
	AccessControlMaxAgeSec *int64 `yaml:"access_control_max_age_sec,omitempty"`
	// OriginOverride makes the policy's CORS headers replace those of the
	// origin; false keeps the origin's where it sent them. When true, and
	// the behavior allows OPTIONS, the edge answers preflight requests
	// (OPTIONS with Origin and Access-Control-Request-Method) itself, 200
	// with the policy's headers, without asking the origin. Default false.
	OriginOverride bool `yaml:"origin_override"`
}

// SecurityHeadersConfig is a response headers policy's security headers;
// each is added when set.
type SecurityHeadersConfig struct {
	// StrictTransportSecurity is Strict-Transport-Security (RFC 6797).
	StrictTransportSecurity *StrictTransportSecurity `yaml:"strict_transport_security,omitempty"`
	// ContentTypeOptions is "X-Content-Type-Options: nosniff".
	ContentTypeOptions *ContentTypeOptions `yaml:"content_type_options,omitempty"`
	// FrameOptions is X-Frame-Options (RFC 7034).
	FrameOptions *FrameOptions `yaml:"frame_options,omitempty"`
	// ReferrerPolicy is Referrer-Policy.
	ReferrerPolicy *ReferrerPolicy `yaml:"referrer_policy,omitempty"`
	// XSSProtection is X-XSS-Protection.
	XSSProtection *XSSProtection `yaml:"xss_protection,omitempty"`
	// ContentSecurityPolicy is Content-Security-Policy.
	ContentSecurityPolicy *ContentSecurityPolicy `yaml:"content_security_policy,omitempty"`
}

// StrictTransportSecurity is "Strict-Transport-Security: max-age=N[;
// includeSubDomains][; preload]".
type StrictTransportSecurity struct {
	// AccessControlMaxAgeSec is the max-age directive in seconds (CloudFront
	// gives the field this name). Required, 0 or more.
	AccessControlMaxAgeSec *int64 `yaml:"access_control_max_age_sec"`
	// IncludeSubdomains adds includeSubDomains. Default false.
	IncludeSubdomains bool `yaml:"include_subdomains,omitempty"`
	// Preload adds preload. Default false.
	Preload bool `yaml:"preload,omitempty"`
	// Override replaces the origin's header. Default false.
	Override bool `yaml:"override"`
}

// ContentTypeOptions is "X-Content-Type-Options: nosniff".
type ContentTypeOptions struct {
	// Override replaces the origin's header. Default false.
	Override bool `yaml:"override"`
}

// FrameOptions is X-Frame-Options.
type FrameOptions struct {
	// FrameOption is DENY or SAMEORIGIN. Required.
	FrameOption string `yaml:"frame_option"`
	// Override replaces the origin's header. Default false.
	Override bool `yaml:"override"`
}

// ReferrerPolicy is Referrer-Policy.
type ReferrerPolicy struct {
	// ReferrerPolicy is one of no-referrer, no-referrer-when-downgrade,
	// origin, origin-when-cross-origin, same-origin, strict-origin,
	// strict-origin-when-cross-origin, unsafe-url. Required.
	ReferrerPolicy string `yaml:"referrer_policy"`
	// Override replaces the origin's header. Default false.
	Override bool `yaml:"override"`
}

// XSSProtection is X-XSS-Protection: "0", "1", "1; mode=block" or "1;
// report=<uri>".
type XSSProtection struct {
	// Protection turns XSS filtering on ("1") or off ("0"). Required.
	Protection *bool `yaml:"protection"`
	// ModeBlock adds mode=block; only with protection true, and not with
	// report_uri. Default false.
	ModeBlock bool `yaml:"mode_block,omitempty"`
	// ReportURI adds report=<uri>; only with protection true, and not
	// with mode_block. Default "".
	ReportURI string `yaml:"report_uri,omitempty"`
	// Override replaces the origin's header. Default false.
	Override bool `yaml:"override"`
}

// ContentSecurityPolicy is Content-Security-Policy.
type ContentSecurityPolicy struct {
	// ContentSecurityPolicy is the header's value, e.g. "default-src
	// 'self'". Required, at most 1783 characters (CloudFront's limit),
	// without control characters other than tab.
	ContentSecurityPolicy string `yaml:"content_security_policy"`
	// Override replaces the origin's header. Default false.
	Override bool `yaml:"override"`
}

// CustomHeader is one header a response headers policy adds.
type CustomHeader struct {
	// Header is the header name. Required.
	Header string `yaml:"header"`
	// Value is the header's value; it may be empty. Control characters
	// other than tab are not allowed (RFC 9110 §5.5).
	Value string `yaml:"value"`
	// Override replaces the origin's header. Default false.
	Override bool `yaml:"override"`
}

// ServerTimingHeadersConfig turns on the Server-Timing header.
type ServerTimingHeadersConfig struct {
	// Enabled adds the header. Default false.
	Enabled bool `yaml:"enabled"`
	// SamplingRate is the percentage of responses that get it, 0 to 100
	// with at most four decimal places. A request with "Pragma:
	// server-timing" always gets it, whatever the rate. Required when
	// enabled.
	SamplingRate *float64 `yaml:"sampling_rate"`
}

// ResponseHeadersPolicyRef is a behavior's response headers policy: in
// YAML the name of a managed or user-defined policy, the id of a managed
// one (CloudFront's, e.g. "67f7725c-6f97-4210-82d7-5512b31e9d03"), or an
// inline policy mapping.
type ResponseHeadersPolicyRef struct {
	// Name is the policy name or id as written, or the inline policy's name.
	Name string
	// Inline is the policy written in place, or nil for a reference.
	Inline *ResponseHeadersPolicy
	// Policy is the policy in force, set by Parse and Provision.
	Policy *ResponseHeadersPolicy
}

// UnmarshalYAML accepts a policy name or id, or an inline policy mapping.
// See KeySelection.UnmarshalYAML for why it uses the callback form.
func (r *ResponseHeadersPolicyRef) UnmarshalYAML(unmarshal func(any) error) error {
	name, inline, err := unmarshalPolicyRef(unmarshal, func(p *ResponseHeadersPolicy) string { return p.Name }, "response_headers_policy must be a policy name or id, or a policy mapping")
	*r = ResponseHeadersPolicyRef{Name: name, Inline: inline}
	return err
}

// MarshalYAML writes the inline policy, or the name.
func (r ResponseHeadersPolicyRef) MarshalYAML() (any, error) {
	if r.Inline != nil {
		return r.Inline, nil
	}
	return r.Name, nil
}

// ManagedResponseHeadersPolicies returns CloudFront's managed response
// headers policies, with their ids and the settings CloudFront documents
// ("Use managed response headers policies", CloudFront Developer Guide).
// Each call returns new values.
func ManagedResponseHeadersPolicies() []*ResponseHeadersPolicy {
	anyOrigin := func() *CORSConfig {
		return &CORSConfig{AccessControlAllowOrigins: []string{"*"}}
	}
	withPreflight := func() *CORSConfig {
		c := anyOrigin()
		c.AccessControlAllowHeaders = []string{"*"}
		c.AccessControlAllowMethods = []string{"ALL"}
		return c
	}
	// Mozilla's web security guidelines, as CloudFront's
	// SecurityHeadersPolicy sets them: only X-Content-Type-Options
	// replaces the origin's.
	security := func() *SecurityHeadersConfig {
		year, on := int64(oneYear), true
		return &SecurityHeadersConfig{
			StrictTransportSecurity: &StrictTransportSecurity{AccessControlMaxAgeSec: &year},
			ContentTypeOptions:      &ContentTypeOptions{Override: true},
			FrameOptions:            &FrameOptions{FrameOption: "SAMEORIGIN"},
			ReferrerPolicy:          &ReferrerPolicy{ReferrerPolicy: "strict-origin-when-cross-origin"},
			XSSProtection:           &XSSProtection{Protection: &on, ModeBlock: true},
		}
	}
	return []*ResponseHeadersPolicy{{
		Name:       "Managed-CORS-and-SecurityHeadersPolicy",
		ID:         "e61eb60c-9c35-4d20-a928-2b84e02af89c",
		Comment:    "Allows simple CORS requests from any origin and adds security headers",
		CORSConfig: anyOrigin(), SecurityHeadersConfig: security(),
		Managed: true,
	}, {
		Name:       "Managed-CORS-With-Preflight",
		ID:         "5cc3b908-e619-4b99-88e5-2cf7f45965bd",
		Comment:    "Allows CORS requests from any origin, including preflight requests",
		CORSConfig: withPreflight(),
		Managed:    true,
	}, {
		Name:       "Managed-CORS-with-preflight-and-SecurityHeadersPolicy",
		ID:         "eaab4381-ed33-4a86-88ca-d9558dc6cd63",
		Comment:    "Allows CORS requests from any origin, including preflight requests, and adds security headers",
		CORSConfig: withPreflight(), SecurityHeadersConfig: security(),
		Managed: true,
	}, {
		Name:                  "Managed-SecurityHeadersPolicy",
		ID:                    "67f7725c-6f97-4210-82d7-5512b31e9d03",
		Comment:               "Adds a set of security headers to every response",
		SecurityHeadersConfig: security(),
		Managed:               true,
	}, {
		Name:       "Managed-SimpleCORS",
		ID:         "60669652-455b-4ae9-85a4-c4c02393f86c",
		Comment:    "Allows simple CORS requests from any origin",
		CORSConfig: anyOrigin(),
		Managed:    true,
	}}
}
