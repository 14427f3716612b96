package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// valid uses most features; each case below breaks one thing in it.
const valid = `
edge: {listen: "127.0.0.1:8080", node_id: edge-1, pop: fra}
admin: {listen: "127.0.0.1:9090"}
cache_policies:
  - name: api
    min_ttl: 0
    default_ttl: 5
    max_ttl: 60
    headers: {behavior: whitelist, names: [Authorization]}
    cookies: {behavior: allExcept, names: [tracking]}
    query_strings: all
origin_request_policies:
  - name: fwd
    headers: {behavior: allViewerAndWhitelistCloudFront, names: [CloudFront-Viewer-Country]}
distributions:
  - id: main
    aliases: [www.example.com, "*.cdn.example.com"]
    origins:
      - id: a
        domain_name: a.example.com
        origin_path: /prod
        custom_headers: {X-Origin-Secret: s3cret}
      - {id: b, domain_name: 10.0.0.2, protocol_policy: https-only}
    origin_groups:
      - {id: ab, members: [a, b], failover_criteria: {status_codes: [500, 503]}}
    default_cache_behavior: {target_origin_id: ab}
    cache_behaviors:
      - path_pattern: /api/*
        target_origin_id: a
        cache_policy: api
        origin_request_policy: fwd
        allowed_methods: [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE]
        cached_methods: [GET, HEAD, OPTIONS]
      - {path_pattern: /img/*.png, target_origin_id: b}
    custom_error_responses:
      - {error_code: 404, response_page_path: /404.html, response_code: 404}
      - {error_code: 503, error_caching_min_ttl: 0}
  - id: other
    origins: [{id: a, domain_name: other.example.com}]
    default_cache_behavior: {target_origin_id: a}
`

func TestValidConfig(t *testing.T) {
	c := mustParse(t, valid)
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate after Parse: %v", err)
	}
}

func d0(c *Config) *Distribution { return c.Distributions[0] }

// consequences counts the problems of the cases in TestValidate whose
// mistake also breaks a reference elsewhere; the others report exactly one.
var consequences = map[string]int{
	"policy without name": 2, "policy name charset": 2, "managed name": 2,
	"managed name without prefix": 2, "tern prefix": 2, "origin policy managed name": 2,
	"origin controlled with ttl": 3, "no origins": 2, "duplicate origin id": 3,
	"missing origin id": 2, "group id is an origin id": 2,
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *Config)
		field   string
		problem string
	}{
		// Edge and admin.
		{"edge listen", func(c *Config) { c.Edge.Listen = "8080" }, "edge.listen", "not host:port"},
		{"edge listen port", func(c *Config) { c.Edge.Listen = "localhost:http" }, "edge.listen", "not a port"},
		{"edge listen host", func(c *Config) { c.Edge.Listen = "bad host:80" }, "edge.listen", "not a host name"},
		{"node id", func(c *Config) { c.Edge.NodeID = "edge 1" }, "edge.node_id", "not an id"},
		{"pop", func(c *Config) { c.Edge.POP = "" }, "edge.pop", "not an id"},
		{"memory", func(c *Config) { c.Edge.Cache.Memory = 0 }, "edge.cache.memory", "not a positive size"},
		{"max object size", func(c *Config) { c.Edge.Cache.MaxObjectSize = -1 }, "edge.cache.max_object_size", "not a positive size"},
		{"max object above memory", func(c *Config) { c.Edge.Cache.MaxObjectSize = 1 * GiB }, "edge.cache.max_object_size", "1GiB is larger than edge.cache.memory (512MiB)"},
		{"access log", func(c *Config) { c.Edge.AccessLog = "a\nb" }, "edge.access_log", "not a file path"},
		{"admin listen", func(c *Config) { c.Admin.Listen = "nowhere" }, "admin.listen", "not host:port"},
		{"admin on edge address", func(c *Config) { c.Admin.Listen = c.Edge.Listen }, "admin.listen", "also edge.listen"},
		{"role", func(c *Config) { c.Edge.Role = "parent" }, "edge.role", `"parent" is not one of edge, shield`},
		{"tier address", func(c *Config) { c.Edge.TierAddress = "10.0.0.1" }, "edge.tier_address", "not host:port"},
		{"tier address any host", func(c *Config) { c.Edge.TierAddress = "0.0.0.0:8080" }, "edge.tier_address", "not an address other nodes can connect to"},
		{"tier address no host", func(c *Config) { c.Edge.TierAddress = ":8080" }, "edge.tier_address", "not an address other nodes can connect to"},
		{"trusted proxy", func(c *Config) { c.Edge.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.0/33"} }, "edge.trusted_proxies[1]", `"10.0.0.0/33" is not a CIDR prefix`},
		{"trusted proxy host name", func(c *Config) { c.Edge.TrustedProxies = []string{"lb.internal"} }, "edge.trusted_proxies[0]", "nor an IP address"},
		{"client ip header", func(c *Config) { c.Edge.ClientIPHeader = "X Real IP" }, "edge.client_ip_header", "not a header name"},
		{"client ip header Forwarded", func(c *Config) { c.Edge.ClientIPHeader = "forwarded" }, "edge.client_ip_header", "not supported"},
		{"tier address port 0", func(c *Config) { c.Edge.TierAddress = "10.0.0.1:0" }, "edge.tier_address", "not an address other nodes can connect to"},
		{"shield without region", func(c *Config) { d0(c).Origins[0].OriginShield = &OriginShield{Enabled: true} }, "distributions[0].origins[0].origin_shield.region", "is required when the shield is enabled"},
		{"shield region", func(c *Config) { d0(c).Origins[1].OriginShield = &OriginShield{Enabled: true, Region: "eu west"} }, "distributions[0].origins[1].origin_shield.region", `"eu west" is not an id`},

		// Policies.
		{"nil policy", func(c *Config) { c.CachePolicies = append(c.CachePolicies, nil) }, "cache_policies[1]", "is empty"},
		{"policy without name", func(c *Config) { c.CachePolicies[0].Name = "" }, "cache_policies[0].name", "is required"},
		{"policy name charset", func(c *Config) { c.CachePolicies[0].Name = "my policy" }, "cache_policies[0].name", "not a policy name"},
		{"duplicate policy", func(c *Config) {
			c.CachePolicies = append(c.CachePolicies, &CachePolicy{Name: "api", MinTTL: ttl(0), DefaultTTL: ttl(0), MaxTTL: ttl(0), Headers: KeySelection{Behavior: "none"}, Cookies: KeySelection{Behavior: "none"}, QueryStrings: KeySelection{Behavior: "none"}})
		}, "cache_policies[1].name", `"api" is already the name`},
		{"managed name", func(c *Config) { c.CachePolicies[0].Name = "Managed-CachingOptimized" }, "cache_policies[0].name", "reserved"},
		{"managed name without prefix", func(c *Config) { c.CachePolicies[0].Name = "CachingDisabled" }, "cache_policies[0].name", "reserved"},
		{"tern prefix", func(c *Config) { c.CachePolicies[0].Name = "Tern-Mine" }, "cache_policies[0].name", "reserved"},
		{"origin policy managed name", func(c *Config) { c.OriginRequestPolicies[0].Name = "AllViewer" }, "origin_request_policies[0].name", "reserved"},
		{"comment length", func(c *Config) { c.CachePolicies[0].Comment = strings.Repeat("x", 129) }, "cache_policies[0].comment", "longer than 128"},
		{"ttl order min>default", func(c *Config) { *c.CachePolicies[0].MinTTL = Duration(10 * time.Second) }, "cache_policies[0].default_ttl", "5 is less than min_ttl (10)"},
		{"ttl order default>max", func(c *Config) { *c.CachePolicies[0].MaxTTL = Duration(time.Second) }, "cache_policies[0].max_ttl", "1 is less than default_ttl (5)"},
		{"negative ttl", func(c *Config) { *c.CachePolicies[0].MinTTL = Duration(-time.Second) }, "cache_policies[0].min_ttl", "-1 is negative"},
		{"origin controlled with ttl", func(c *Config) { c.CachePolicies[0].OriginControlled = true }, "cache_policies[0].min_ttl", "must be left out when origin_controlled"},
		{"cache key header behavior", func(c *Config) { c.CachePolicies[0].Headers = KeySelection{Behavior: "all"} }, "cache_policies[0].headers.behavior", `"all" is not one of none, whitelist`},
		{"cookie behavior word", func(c *Config) { c.CachePolicies[0].Cookies = KeySelection{Behavior: "some"} }, "cache_policies[0].cookies.behavior", "is not one of"},
		{"whitelist without names", func(c *Config) { c.CachePolicies[0].Headers.Names = nil }, "cache_policies[0].headers.names", "at least one name is required"},
		{"names with all", func(c *Config) { c.CachePolicies[0].QueryStrings.Names = []string{"a"} }, "cache_policies[0].query_strings.names", "not allowed when behavior is all"},
		{"bad header name", func(c *Config) { c.CachePolicies[0].Headers.Names = []string{"x y"} }, "cache_policies[0].headers.names[0]", "not a valid name"},
		{"duplicate header", func(c *Config) { c.CachePolicies[0].Headers.Names = []string{"a", "a"} }, "cache_policies[0].headers.names[1]", "listed twice"},
		{"viewer address in key", func(c *Config) { c.CachePolicies[0].Headers.Names = []string{"cloudfront-viewer-address"} }, "cache_policies[0].headers.names", "may not be in a cache key"},
		{"accept-encoding in key", func(c *Config) { c.CachePolicies[0].Headers.Names = []string{"accept-encoding"} }, "cache_policies[0].headers.names", "enable_accept_encoding"},
		{"bad query name", func(c *Config) { c.CachePolicies[0].Cookies.Names = []string{"a=b"} }, "cache_policies[0].cookies.names[0]", "not a valid name"},
		{"cloudfront header list", func(c *Config) { c.OriginRequestPolicies[0].Headers.Names = []string{"x-custom"} }, "origin_request_policies[0].headers.names[0]", "not a CloudFront-* header"},
		{"origin policy header behavior", func(c *Config) { c.OriginRequestPolicies[0].Headers = KeySelection{Behavior: "all"} }, "origin_request_policies[0].headers.behavior", "is not one of"},

		// Distributions.
		{"nil distribution", func(c *Config) { c.Distributions = append(c.Distributions, nil) }, "distributions[2]", "is empty"},
		{"duplicate distribution id", func(c *Config) { c.Distributions[1].ID = "main" }, "distributions[1].id", `"main" is already the id of distributions[0]`},
		{"missing distribution id", func(c *Config) { d0(c).ID = "" }, "distributions[0].id", "is required"},
		{"bad distribution id", func(c *Config) { d0(c).ID = "-x" }, "distributions[0].id", "not an id"},
		{"same alias twice", func(c *Config) { c.Distributions[1].Aliases = []string{"www.example.com"} }, "distributions[1].aliases[0]", "already an alias of distributions[0]"},
		{"alias repeated", func(c *Config) { d0(c).Aliases = append(d0(c).Aliases, "www.example.com") }, "distributions[0].aliases[2]", "listed twice"},
		{"two catch-alls", func(c *Config) { d0(c).Aliases = []string{"*"} }, "distributions[1].aliases", "distributions[0] already answers any host"},
		{"star with others", func(c *Config) { d0(c).Aliases = append(d0(c).Aliases, "*") }, "distributions[0].aliases[2]", "must be the only alias"},
		{"bad alias", func(c *Config) { d0(c).Aliases[0] = "www.exa mple.com" }, "distributions[0].aliases[0]", "not a host name"},
		{"mid wildcard alias", func(c *Config) { d0(c).Aliases[0] = "www.*.com" }, "distributions[0].aliases[0]", "not a host name"},
		{"root object slash", func(c *Config) { d0(c).DefaultRootObject = "/index.html" }, "distributions[0].default_root_object", `write "index.html"`},
		{"no origins", func(c *Config) { c.Distributions[1].Origins = nil }, "distributions[1].origins", "at least one origin"},

		// Origins.
		{"duplicate origin id", func(c *Config) { d0(c).Origins[1].ID = "a" }, "distributions[0].origins[1].id", "already the id of another origin"},
		{"missing origin id", func(c *Config) { c.Distributions[1].Origins[0].ID = "" }, "distributions[1].origins[0].id", "is required"},
		{"empty domain", func(c *Config) { d0(c).Origins[0].DomainName = "" }, "distributions[0].origins[0].domain_name", "is required"},
		{"domain with scheme", func(c *Config) { d0(c).Origins[0].DomainName = "https://a.example.com" }, "distributions[0].origins[0].domain_name", "has a scheme"},
		{"domain with port", func(c *Config) { d0(c).Origins[0].DomainName = "a.example.com:8080" }, "distributions[0].origins[0].domain_name", "has a port"},
		{"domain with path", func(c *Config) { d0(c).Origins[0].DomainName = "a.example.com/x" }, "distributions[0].origins[0].domain_name", "has a path"},
		{"bad domain", func(c *Config) { d0(c).Origins[0].DomainName = "a..b" }, "distributions[0].origins[0].domain_name", "not a host name or IP"},
		{"http port", func(c *Config) { d0(c).Origins[1].HTTPPort = 70000 }, "distributions[0].origins[1].http_port", "70000 is not a port (1-65535)"},
		{"https port", func(c *Config) { d0(c).Origins[1].HTTPSPort = -1 }, "distributions[0].origins[1].https_port", "-1 is not a port"},
		{"protocol policy", func(c *Config) { d0(c).Origins[0].ProtocolPolicy = "https" }, "distributions[0].origins[0].protocol_policy", `"https" is not one of http-only, https-only, match-viewer`},
		{"origin path no slash", func(c *Config) { d0(c).Origins[0].OriginPath = "prod" }, "distributions[0].origins[0].origin_path", `must start with "/"`},
		{"origin path trailing slash", func(c *Config) { d0(c).Origins[0].OriginPath = "/prod/" }, "distributions[0].origins[0].origin_path", `must not end with "/"`},
		{"origin path query", func(c *Config) { d0(c).Origins[0].OriginPath = "/p?x=1" }, "distributions[0].origins[0].origin_path", "is not a path"},
		{"origin path dotdot", func(c *Config) { d0(c).Origins[0].OriginPath = "/a/../b" }, "distributions[0].origins[0].origin_path", `".."`},
		{"custom header host", func(c *Config) { d0(c).Origins[0].CustomHeaders["host"] = "x" }, "distributions[0].origins[0].custom_headers.host", "may not be set"},
		{"custom header x-amz", func(c *Config) { d0(c).Origins[0].CustomHeaders["X-Amz-Date"] = "x" }, "distributions[0].origins[0].custom_headers.X-Amz-Date", "may not be set"},
		{"custom header xff", func(c *Config) { d0(c).Origins[0].CustomHeaders["X-Forwarded-For"] = "x" }, "distributions[0].origins[0].custom_headers.X-Forwarded-For", "may not be set"},
		{"custom header bad name", func(c *Config) { d0(c).Origins[0].CustomHeaders["a b"] = "x" }, "distributions[0].origins[0].custom_headers.a b", "not a header name"},
		{"custom header case twin", func(c *Config) { d0(c).Origins[0].CustomHeaders["x-origin-secret"] = "x" }, "distributions[0].origins[0].custom_headers.x-origin-secret", "also set as X-Origin-Secret"},
		{"custom header CRLF", func(c *Config) { d0(c).Origins[0].CustomHeaders["X-Origin-Secret"] = "a\r\nb: c" }, "distributions[0].origins[0].custom_headers.X-Origin-Secret", "CR, LF or NUL"},
		{"connection attempts", func(c *Config) { d0(c).Origins[0].ConnectionAttempts = 4 }, "distributions[0].origins[0].connection_attempts", "4 is not 1, 2 or 3"},
		{"connection timeout", func(c *Config) { d0(c).Origins[0].ConnectionTimeout = Duration(11 * time.Second) }, "distributions[0].origins[0].connection_timeout", "11 is not above 0 and at most 10"},
		{"response timeout", func(c *Config) { d0(c).Origins[0].ResponseTimeout = -1 }, "distributions[0].origins[0].response_timeout", "not above 0"},
		{"keepalive timeout", func(c *Config) { d0(c).Origins[0].KeepaliveTimeout = Duration(181 * time.Second) }, "distributions[0].origins[0].keepalive_timeout", "at most 180"},

		// Origin groups.
		{"group id is an origin id", func(c *Config) { d0(c).OriginGroups[0].ID = "b" }, "distributions[0].origin_groups[0].id", `"b" is already the id of an origin`},
		{"group with one member", func(c *Config) { d0(c).OriginGroups[0].Members = []string{"a"} }, "distributions[0].origin_groups[0].members", "exactly 2"},
		{"group member unknown", func(c *Config) { d0(c).OriginGroups[0].Members[1] = "zz" }, "distributions[0].origin_groups[0].members[1]", `"zz" is not an origin of this distribution`},
		{"group member is a group", func(c *Config) { d0(c).OriginGroups[0].Members[1] = "ab" }, "distributions[0].origin_groups[0].members[1]", "is an origin group"},
		{"group same member twice", func(c *Config) { d0(c).OriginGroups[0].Members[1] = "a" }, "distributions[0].origin_groups[0].members", `both "a"`},
		{"failover without codes", func(c *Config) { d0(c).OriginGroups[0].FailoverCriteria.StatusCodes = nil }, "distributions[0].origin_groups[0].failover_criteria.status_codes", "at least one"},
		{"failover code", func(c *Config) { d0(c).OriginGroups[0].FailoverCriteria.StatusCodes[0] = 501 }, "distributions[0].origin_groups[0].failover_criteria.status_codes[0]", "501 is not a failover status"},
		{"failover code twice", func(c *Config) { d0(c).OriginGroups[0].FailoverCriteria.StatusCodes[1] = 500 }, "distributions[0].origin_groups[0].failover_criteria.status_codes[1]", "listed twice"},

		// Behaviors.
		{"no default behavior", func(c *Config) { d0(c).DefaultCacheBehavior = nil }, "distributions[0].default_cache_behavior", "is required"},
		{"pattern on default", func(c *Config) { d0(c).DefaultCacheBehavior.PathPattern = "/*" }, "distributions[0].default_cache_behavior.path_pattern", "not allowed on the default"},
		{"no pattern", func(c *Config) { d0(c).CacheBehaviors[1].PathPattern = "" }, "distributions[0].cache_behaviors[1].path_pattern", "is required"},
		{"duplicate pattern", func(c *Config) { d0(c).CacheBehaviors[1].PathPattern = "/api/*" }, "distributions[0].cache_behaviors[1].path_pattern", "already the pattern of cache_behaviors[0]"},
		{"pattern with space", func(c *Config) { d0(c).CacheBehaviors[1].PathPattern = "/a b" }, "distributions[0].cache_behaviors[1].path_pattern", "not a path pattern"},
		{"nil behavior", func(c *Config) { d0(c).CacheBehaviors[1] = nil }, "distributions[0].cache_behaviors[1]", "is empty"},
		{"no target", func(c *Config) { d0(c).CacheBehaviors[0].TargetOriginID = "" }, "distributions[0].cache_behaviors[0].target_origin_id", "is required"},
		{"dangling target", func(c *Config) { d0(c).CacheBehaviors[0].TargetOriginID = "c" }, "distributions[0].cache_behaviors[0].target_origin_id", `"c" is not an origin or origin group of this distribution`},
		{"target in other distribution", func(c *Config) { c.Distributions[1].DefaultCacheBehavior.TargetOriginID = "ab" }, "distributions[1].default_cache_behavior.target_origin_id", "not an origin or origin group"},
		{"viewer protocol", func(c *Config) { d0(c).DefaultCacheBehavior.ViewerProtocolPolicy = "https" }, "distributions[0].default_cache_behavior.viewer_protocol_policy", "is not one of allow-all, redirect-to-https, https-only"},
		{"allowed methods set", func(c *Config) { d0(c).CacheBehaviors[0].AllowedMethods = []string{"GET", "POST"} }, "distributions[0].cache_behaviors[0].allowed_methods", "[GET, POST] is not one of"},
		{"lower-case method", func(c *Config) { d0(c).CacheBehaviors[1].AllowedMethods = []string{"get", "head"} }, "distributions[0].cache_behaviors[1].allowed_methods", "upper case"},
		{"method twice", func(c *Config) { d0(c).CacheBehaviors[1].AllowedMethods = []string{"GET", "GET"} }, "distributions[0].cache_behaviors[1].allowed_methods[1]", "listed twice"},
		{"cached methods set", func(c *Config) { d0(c).CacheBehaviors[0].CachedMethods = []string{"GET"} }, "distributions[0].cache_behaviors[0].cached_methods", "is not one of"},
		{"cached not allowed", func(c *Config) { d0(c).CacheBehaviors[1].CachedMethods = []string{"GET", "HEAD", "OPTIONS"} }, "distributions[0].cache_behaviors[1].cached_methods", "allowed_methods does not"},
		{"dangling cache policy", func(c *Config) { d0(c).CacheBehaviors[0].CachePolicy = &CachePolicyRef{Name: "apii"} }, "distributions[0].cache_behaviors[0].cache_policy", `"apii" is not a managed cache policy or one of cache_policies`},
		{"origin policy used as cache policy", func(c *Config) { d0(c).CacheBehaviors[0].CachePolicy = &CachePolicyRef{Name: "fwd"} }, "distributions[0].cache_behaviors[0].cache_policy", "not a managed cache policy"},
		{"dangling origin request policy", func(c *Config) { d0(c).CacheBehaviors[0].OriginRequestPolicy = &OriginRequestPolicyRef{Name: "api"} }, "distributions[0].cache_behaviors[0].origin_request_policy", `"api" is not a managed origin request policy`},
		{"inline policy bad ttl", func(c *Config) {
			p := &CachePolicy{MinTTL: ttl(5), DefaultTTL: ttl(1), MaxTTL: ttl(9), Headers: KeySelection{Behavior: "none"}, Cookies: KeySelection{Behavior: "none"}, QueryStrings: KeySelection{Behavior: "none"}}
			d0(c).CacheBehaviors[1].CachePolicy = &CachePolicyRef{Inline: p}
		}, "distributions[0].cache_behaviors[1].cache_policy.default_ttl", "less than min_ttl"},
		{"inline policy reuses a name", func(c *Config) {
			p := &CachePolicy{Name: "api", MinTTL: ttl(0), DefaultTTL: ttl(1), MaxTTL: ttl(9), Headers: KeySelection{Behavior: "none"}, Cookies: KeySelection{Behavior: "none"}, QueryStrings: KeySelection{Behavior: "none"}}
			d0(c).CacheBehaviors[1].CachePolicy = &CachePolicyRef{Name: "api", Inline: p}
		}, "distributions[0].cache_behaviors[1].cache_policy.name", `"api" is already the name of a cache policy`},
		{"inline origin policy reserved name", func(c *Config) {
			p := &OriginRequestPolicy{Name: "Managed-X", Headers: KeySelection{Behavior: "none"}, Cookies: KeySelection{Behavior: "none"}, QueryStrings: KeySelection{Behavior: "none"}}
			d0(c).CacheBehaviors[1].OriginRequestPolicy = &OriginRequestPolicyRef{Name: "Managed-X", Inline: p}
		}, "distributions[0].cache_behaviors[1].origin_request_policy.name", "reserved"},

		// Custom error responses.
		{"error code", func(c *Config) { d0(c).CustomErrorResponses[0].ErrorCode = 418 }, "distributions[0].custom_error_responses[0].error_code", "418 is not one of 400, 403"},
		{"duplicate error code", func(c *Config) { d0(c).CustomErrorResponses[1].ErrorCode = 404 }, "distributions[0].custom_error_responses[1].error_code", "already handled by custom_error_responses[0]"},
		{"page path", func(c *Config) { d0(c).CustomErrorResponses[0].ResponsePagePath = "404.html" }, "distributions[0].custom_error_responses[0].response_page_path", `not a path starting with "/"`},
		{"page without code", func(c *Config) { d0(c).CustomErrorResponses[0].ResponseCode = 0 }, "distributions[0].custom_error_responses[0].response_code", "required with response_page_path"},
		{"code without page", func(c *Config) { d0(c).CustomErrorResponses[1].ResponseCode = 503 }, "distributions[0].custom_error_responses[1].response_page_path", "required with response_code"},
		{"response code", func(c *Config) { d0(c).CustomErrorResponses[0].ResponseCode = 302 }, "distributions[0].custom_error_responses[0].response_code", "302 is not 200 or a 4xx or 5xx"},
		{"negative error ttl", func(c *Config) { *d0(c).CustomErrorResponses[1].ErrorCachingMinTTL = -1 }, "distributions[0].custom_error_responses[1].error_caching_min_ttl", "-1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, valid)
			tt.mutate(c)
			err := c.Validate()
			errs := FieldErrors(err)
			want := 1
			if n, ok := consequences[tt.name]; ok {
				want = n
			}
			if len(errs) != want {
				t.Errorf("got %d problems, want %d: %v", len(errs), want, err)
			}
			for _, fe := range errs {
				if fe.Field == tt.field && strings.Contains(fe.Problem, tt.problem) {
					return
				}
			}
			t.Errorf("no problem %q at %s in:\n%v", tt.problem, tt.field, err)
		})
	}
}

// TestValidateFromYAML covers problems that only show after defaults and
// normalisation, as a user writes them.
func TestValidateFromYAML(t *testing.T) {
	tests := []struct {
		name, src, field, problem string
	}{
		{"patterns equal after adding /", `
distributions:
  - id: a
    origins: [{id: o, domain_name: o.example}]
    default_cache_behavior: {target_origin_id: o}
    cache_behaviors:
      - {path_pattern: "/api/*", target_origin_id: o}
      - {path_pattern: "api/*", target_origin_id: o}
`, "distributions[0].cache_behaviors[1].path_pattern", "already the pattern"},
		{"aliases equal ignoring case", `
distributions:
  - id: a
    aliases: [WWW.example.com]
    origins: [{id: o, domain_name: o.example}]
    default_cache_behavior: {target_origin_id: o}
  - id: b
    aliases: [www.EXAMPLE.com]
    origins: [{id: o, domain_name: o.example}]
    default_cache_behavior: {target_origin_id: o}
`, "distributions[1].aliases[0]", "already an alias of distributions[0]"},
		{"two distributions without aliases", `
distributions:
  - id: a
    origins: [{id: o, domain_name: o.example}]
    default_cache_behavior: {target_origin_id: o}
  - id: b
    origins: [{id: o, domain_name: o.example}]
    default_cache_behavior: {target_origin_id: o}
`, "distributions[1].aliases", "already answers any host"},
		{"max object size above small memory", `
edge: {cache: {memory: 1MiB, max_object_size: 2MiB}}
`, "edge.cache.max_object_size", "2MiB is larger than edge.cache.memory (1MiB)"},
		{"origin controlled with ttl", `
cache_policies: [{name: p, origin_controlled: true, max_ttl: 60}]
`, "cache_policies[0].max_ttl", "must be left out"},
		{"methods of an inline policy are not a thing but cached must be in allowed", `
distributions:
  - id: a
    origins: [{id: o, domain_name: o.example}]
    default_cache_behavior: {target_origin_id: o, cached_methods: [HEAD, GET, OPTIONS]}
`, "distributions[0].default_cache_behavior.cached_methods", "allowed_methods does not"},
		{"explicit zero port cannot be told from unset, but 0 attempts is 3", `
distributions:
  - id: a
    origins: [{id: o, domain_name: o.example, connection_attempts: -1}]
    default_cache_behavior: {target_origin_id: o}
`, "distributions[0].origins[0].connection_attempts", "-1 is not 1, 2 or 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "t.yaml")
			for _, fe := range FieldErrors(err) {
				if fe.Field == tt.field && strings.Contains(fe.Problem, tt.problem) {
					return
				}
			}
			t.Errorf("no problem %q at %s in:\n%v", tt.problem, tt.field, err)
		})
	}
}

// TestValidateReportsEveryProblem checks that Validate does not stop at the
// first problem, and that each is a *FieldError reachable with errors.As.
func TestValidateReportsEveryProblem(t *testing.T) {
	_, err := Parse([]byte(`
edge: {listen: nowhere}
distributions:
  - id: a
    origins: [{id: o, domain_name: "", http_port: 70000}]
    default_cache_behavior: {target_origin_id: p, cache_policy: nope}
`), "t.yaml")
	want := []string{
		"edge.listen",
		"distributions[0].origins[0].domain_name",
		"distributions[0].origins[0].http_port",
		"distributions[0].default_cache_behavior.target_origin_id",
		"distributions[0].default_cache_behavior.cache_policy",
	}
	errs := FieldErrors(err)
	if len(errs) != len(want) {
		t.Fatalf("got %d problems, want %d: %v", len(errs), len(want), err)
	}
	for i, fe := range errs {
		if fe.Field != want[i] {
			t.Errorf("problem %d is at %s, want %s", i, fe.Field, want[i])
		}
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "edge.listen" {
		t.Errorf("errors.As found %v, want the edge.listen problem", fe)
	}
	if !strings.Contains(err.Error(), "t.yaml") {
		t.Errorf("error %q does not name the source", err)
	}
}

func TestFieldErrorFormat(t *testing.T) {
	e := &FieldError{Field: "distributions[0].origins[1].http_port", Problem: "70000 is not a port (1-65535)"}
	if got, want := e.Error(), "distributions[0].origins[1].http_port: 70000 is not a port (1-65535)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestManagedPoliciesFollowTheRules checks the built-in policies against the
// rules user policies must follow, and that callers get their own copies.
func TestManagedPoliciesFollowTheRules(t *testing.T) {
	for _, p := range ManagedCachePolicies() {
		var probs problems
		p.validate(&probs, p.Name)
		if len(probs) > 0 || !p.Managed {
			t.Errorf("%s: managed %v, problems %v", p.Name, p.Managed, errors.Join(probs...))
		}
	}
	for _, p := range ManagedOriginRequestPolicies() {
		var probs problems
		p.validate(&probs, p.Name)
		if len(probs) > 0 || !p.Managed {
			t.Errorf("%s: managed %v, problems %v", p.Name, p.Managed, errors.Join(probs...))
		}
	}
	a := ManagedCachePolicies()
	a[0].Headers.Names = append(a[0].Headers.Names, "x")
	*a[0].MinTTL = 99
	b := ManagedCachePolicies()
	if len(b[0].Headers.Names) != 0 || *b[0].MinTTL != Duration(time.Second) {
		t.Error("changing one result of ManagedCachePolicies changed the next")
	}
}

func TestManagedPolicySettings(t *testing.T) {
	byName := map[string]*CachePolicy{}
	for _, p := range ManagedCachePolicies() {
		byName[p.Name] = p
	}
	tests := []struct {
		name             string
		minTTL, def, max int64
		gzip, br         bool
		headers          int
		cookies, qs      string
	}{
		{"Managed-CachingOptimized", 1, 86400, 31536000, true, true, 0, "none", "none"},
		{"Managed-CachingOptimizedForUncompressedObjects", 1, 86400, 31536000, false, false, 0, "none", "none"},
		{"Managed-CachingDisabled", 0, 0, 0, false, false, 0, "none", "none"},
		{"Managed-UseOriginCacheControlHeaders", 0, 0, 31536000, true, true, 5, "all", "none"},
		{"Managed-UseOriginCacheControlHeaders-QueryStrings", 0, 0, 31536000, true, true, 5, "all", "all"},
		{"Managed-Elemental-MediaPackage", 0, 86400, 31536000, true, false, 1, "none", "whitelist"},
		{"Managed-Amplify", 2, 2, 600, true, true, 3, "all", "all"},
	}
	for _, tt := range tests {
		p := byName[tt.name]
		if p == nil {
			t.Errorf("%s missing", tt.name)
			continue
		}
		minTTL, def, maxTTL := p.TTLs()
		if minTTL != time.Duration(tt.minTTL)*time.Second || def != time.Duration(tt.def)*time.Second || maxTTL != time.Duration(tt.max)*time.Second ||
			p.EnableAcceptEncodingGzip != tt.gzip || p.EnableAcceptEncodingBrotli != tt.br ||
			len(p.Headers.Names) != tt.headers || p.Cookies.Behavior != tt.cookies || p.QueryStrings.Behavior != tt.qs {
			t.Errorf("%s = %+v", tt.name, p)
		}
	}
	oc := byName[OriginControlledCachePolicy]
	if oc == nil || !oc.OriginControlled || oc.MinTTL != nil || !oc.EnableAcceptEncodingGzip || !oc.EnableAcceptEncodingBrotli {
		t.Errorf("%s = %+v", OriginControlledCachePolicy, oc)
	}
	if len(ManagedOriginRequestPolicies()) != 7 {
		t.Errorf("%d managed origin request policies, want 7", len(ManagedOriginRequestPolicies()))
	}
}
