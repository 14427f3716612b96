package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse([]byte(src), "test.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// minimal is the smallest valid distribution.
const minimal = `
distributions:
  - id: site
    origins: [{id: web, domain_name: origin.example.com}]
    default_cache_behavior: {target_origin_id: web}
`

func TestExample(t *testing.T) {
	c, err := Parse(Example, "example.yaml")
	if err != nil {
		t.Fatalf("the embedded example does not parse: %v", err)
	}
	if c.Edge.Listen != "127.0.0.1:8080" || c.Admin.Listen != "127.0.0.1:9090" {
		t.Errorf("listen = %q, admin %q; want 127.0.0.1:8080 and 127.0.0.1:9090", c.Edge.Listen, c.Admin.Listen)
	}
	d, ok := c.Distribution("demo")
	if !ok {
		t.Fatal("no distribution demo")
	}
	if !d.CatchAll() || !d.IsEnabled() {
		t.Errorf("demo: catch-all %v, enabled %v; want both", d.CatchAll(), d.IsEnabled())
	}
	o, ok := d.Origin("demo-origin")
	if !ok || o.DomainName != "127.0.0.1" || o.HTTPPort != 8081 {
		t.Fatalf("demo-origin = %+v, want 127.0.0.1 port 8081", o)
	}
	tests := []struct {
		path, policy string
	}{
		{"/api/items?x=1", "demo-api-short-ttl"},
		{"/api/items", "demo-api-short-ttl"},
		{"/download/big.bin", OriginControlledCachePolicy},
		{"/", DefaultCachePolicy},
		{"/index.html", DefaultCachePolicy},
	}
	for _, tt := range tests {
		path, _, _ := strings.Cut(tt.path, "?")
		b := d.BehaviorFor(path)
		if b.Origin != o {
			t.Errorf("%s: target %v, want demo-origin resolved", tt.path, b.Origin)
		}
		if got := b.CachePolicy.Policy; got == nil || got.Name != tt.policy {
			t.Errorf("%s: cache policy %v, want %s", tt.path, got, tt.policy)
		}
	}
	api := d.BehaviorFor("/api/x").CachePolicy.Policy
	if api.QueryStrings.Behavior != SelectAll {
		t.Errorf("/api/* policy keys on query strings %q, want all", api.QueryStrings.Behavior)
	}
	if _, def, maxTTL := api.TTLs(); def > time.Minute || maxTTL > time.Minute {
		t.Errorf("/api/* TTLs default %v max %v, want short", def, maxTTL)
	}
	if len(d.CustomErrorResponses) != 1 || d.CustomErrorResponses[0].ErrorCode != 404 {
		t.Errorf("custom error responses = %+v, want one for 404", d.CustomErrorResponses)
	}
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, minimal)
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	if c.Edge.NodeID != host && c.Edge.NodeID != defaultNodeIDWhenNoHostname {
		t.Errorf("node_id = %q, want the host name %q", c.Edge.NodeID, host)
	}
	if got := [...]any{c.Edge.Listen, c.Edge.POP, c.Edge.Cache.Memory, c.Edge.Cache.MaxObjectSize, c.Admin.Listen, c.Admin.Enabled()}; got != [...]any{"127.0.0.1:8080", "local", 512 * MiB, 64 * MiB, "127.0.0.1:9090", true} {
		t.Errorf("edge/admin defaults = %v", got)
	}
	if c.Edge.Role != RoleEdge || !c.Edge.PeeringEnabled() || c.Edge.TierAddress != "" {
		t.Errorf("tier defaults: role %q, peering %v, tier_address %q", c.Edge.Role, c.Edge.PeeringEnabled(), c.Edge.TierAddress)
	}
	d := c.Distributions[0]
	o := d.Origins[0]
	if got := [...]any{o.HTTPPort, o.HTTPSPort, o.ProtocolPolicy, o.ConnectionAttempts, o.ConnectionTimeout.Std(), o.ResponseTimeout.Std(), o.KeepaliveTimeout.Std()}; got != [...]any{80, 443, "http-only", 3, 10 * time.Second, 30 * time.Second, 5 * time.Second} {
		t.Errorf("origin defaults = %v", got)
	}
	b := d.DefaultCacheBehavior
	if b.ViewerProtocolPolicy != ViewerAllowAll || !reflect.DeepEqual(b.AllowedMethods, []string{"GET", "HEAD"}) || !reflect.DeepEqual(b.CachedMethods, []string{"GET", "HEAD"}) {
		t.Errorf("behavior defaults = %q %v %v", b.ViewerProtocolPolicy, b.AllowedMethods, b.CachedMethods)
	}
	if b.CachePolicy.Policy == nil || b.CachePolicy.Policy.Name != DefaultCachePolicy {
		t.Errorf("default cache policy = %+v, want %s", b.CachePolicy, DefaultCachePolicy)
	}
	if b.OriginRequestPolicy != nil {
		t.Errorf("origin request policy = %+v, want none", b.OriginRequestPolicy)
	}
	if minTTL, def, maxTTL := b.CachePolicy.Policy.TTLs(); minTTL != time.Second || def != 24*time.Hour || maxTTL != 365*24*time.Hour {
		t.Errorf("CachingOptimized TTLs = %v %v %v, want 1s 24h 8760h", minTTL, def, maxTTL)
	}
	if !b.AllowsMethod("GET") || b.AllowsMethod("POST") || !b.CachesMethod("HEAD") || b.CachesMethod("OPTIONS") {
		t.Error("AllowsMethod/CachesMethod disagree with [GET, HEAD]")
	}
}

func TestDefaultsDependOnOtherFields(t *testing.T) {
	c := mustParse(t, `
edge: {cache: {memory: 16MiB}}
admin: {listen: "off"}
cache_policies:
  - {name: long, min_ttl: 100000}
  - {name: longer, default_ttl: 40000000}
distributions:
  - id: site
    aliases: [WWW.Example.COM]
    origins: [{id: web, domain_name: "[::1]"}]
    default_cache_behavior: {target_origin_id: web, cache_policy: long}
    cache_behaviors: [{path_pattern: "img/*", target_origin_id: web, cache_policy: longer}]
    custom_error_responses: [{error_code: 503}]
`)
	if got := c.Edge.Cache.MaxObjectSize; got != 16*MiB {
		t.Errorf("max_object_size = %v, want memory (16MiB) when memory is below 64MiB", got)
	}
	if c.Admin.Enabled() {
		t.Error(`admin listen "off" still enabled`)
	}
	p, _ := c.CachePolicy("long")
	if _, def, maxTTL := p.TTLs(); def != 100000*time.Second || maxTTL != 365*24*time.Hour {
		t.Errorf("min_ttl 100000: default %v max %v, want default raised to min_ttl (CloudFront's rule)", def, maxTTL)
	}
	p, _ = c.CachePolicy("longer")
	if minTTL, _, maxTTL := p.TTLs(); minTTL != 0 || maxTTL != 40000000*time.Second {
		t.Errorf("default_ttl 40000000: min %v max %v, want max raised to default_ttl", minTTL, maxTTL)
	}
	d := c.Distributions[0]
	if d.Aliases[0] != "www.example.com" || d.Origins[0].DomainName != "::1" || d.CacheBehaviors[0].PathPattern != "/img/*" {
		t.Errorf("normalised alias %q, domain %q, pattern %q", d.Aliases[0], d.Origins[0].DomainName, d.CacheBehaviors[0].PathPattern)
	}
	if ttl := d.CustomErrorResponses[0].ErrorCachingMinTTL; ttl == nil || *ttl != 10 {
		t.Errorf("error_caching_min_ttl = %v, want 10s", ttl)
	}
}

// withRefs refers to policies by every kind of name, and inline.
const withRefs = `
cache_policies: [{name: mine, query_strings: {behavior: whitelist, names: [q]}}]
origin_request_policies: [{name: ua, headers: {behavior: whitelist, names: [User-Agent]}}]
distributions:
  - id: site
    origins: [{id: a, domain_name: a.example}, {id: b, domain_name: b.example}]
    origin_groups: [{id: ab, members: [a, b], failover_criteria: {status_codes: [502, 503]}}]
    default_cache_behavior:
      target_origin_id: ab
      cache_policy: CachingDisabled
      origin_request_policy: AllViewer
    cache_behaviors:
      - path_pattern: /mine/*
        target_origin_id: a
        cache_policy: mine
        origin_request_policy: ua
      - path_pattern: /inline/*
        target_origin_id: b
        cache_policy: {default_ttl: 60, max_ttl: 120, headers: {behavior: whitelist, names: [X-Tenant]}}
        origin_request_policy: {cookies: all}
`

func TestPolicyReferences(t *testing.T) {
	c := mustParse(t, withRefs)
	d := c.Distributions[0]
	def := d.DefaultCacheBehavior
	if def.OriginGroup == nil || def.OriginGroup.Primary == nil || def.OriginGroup.Primary.ID != "a" || def.OriginGroup.Secondary.ID != "b" || def.Origin != nil {
		t.Errorf("default behavior target = origin %v group %+v, want group ab with a, b", def.Origin, def.OriginGroup)
	}
	if p := def.CachePolicy.Policy; p == nil || p.Name != "Managed-CachingDisabled" || !p.Managed {
		t.Errorf("CachingDisabled resolved to %+v, want the managed policy", p)
	}
	if p := def.OriginRequestPolicy.Policy; p == nil || p.Name != "Managed-AllViewer" {
		t.Errorf("AllViewer resolved to %+v", p)
	}
	mine := d.CacheBehaviors[0]
	if mine.CachePolicy.Policy != c.CachePolicies[0] || mine.OriginRequestPolicy.Policy != c.OriginRequestPolicies[0] {
		t.Error("named user policies not resolved to the top-level policies")
	}
	if got := c.OriginRequestPolicies[0].Headers.Names; !reflect.DeepEqual(got, []string{"user-agent"}) {
		t.Errorf("header names = %v, want lower case", got)
	}
	in := d.CacheBehaviors[1]
	if in.CachePolicy.Inline == nil || in.CachePolicy.Policy != in.CachePolicy.Inline {
		t.Fatalf("inline cache policy not resolved: %+v", in.CachePolicy)
	}
	if minTTL, def, maxTTL := in.CachePolicy.Policy.TTLs(); minTTL != 0 || def != time.Minute || maxTTL != 2*time.Minute {
		t.Errorf("inline TTLs = %v %v %v", minTTL, def, maxTTL)
	}
	if p := in.OriginRequestPolicy.Policy; p == nil || p.Cookies.Behavior != SelectAll || p.Headers.Behavior != SelectNone {
		t.Errorf("inline origin request policy = %+v", p)
	}
}

// TestRoundTrip checks that a parsed config written back as YAML parses to
// the same thing: the control plane stores configs this way.
func TestRoundTrip(t *testing.T) {
	for name, src := range map[string]string{"example": string(Example), "minimal": minimal, "valid": valid, "withRefs": withRefs} {
		c1 := mustParse(t, src)
		out, err := yaml.Marshal(c1)
		if err != nil {
			t.Fatalf("%s: Marshal: %v", name, err)
		}
		c2, err := Parse(out, name)
		if err != nil {
			t.Fatalf("%s: re-Parse: %v\n%s", name, err, out)
		}
		if !reflect.DeepEqual(c1, c2) {
			t.Errorf("%s: round trip changed the config:\n%s", name, out)
		}
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tern.yaml")
	if err := os.WriteFile(path, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil || len(c.Distributions) != 1 {
		t.Fatalf("Load = %v, %v", c, err)
	}
	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want one wrapping fs.ErrNotExist", err)
	}
	if err := os.WriteFile(path, []byte("distributions: [{id: x}]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Load(invalid) error = %v, want one naming %s", err, path)
	}
}

// TestDecodeErrors checks that mistakes the decoder finds name their line,
// also inside inline policies and key selections (which have their own
// UnmarshalYAML), and that all of them are reported together.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"unknown top-level field", "edge:\n  listen: x\ndistribution: []\n", []string{"line 3: field distribution not found"}},
		{"unknown nested field", "distributions:\n  - id: a\n    origins:\n      - id: o\n        htp_port: 80\n", []string{"line 5: field htp_port not found"}},
		{"unknown field in inline cache policy", "distributions:\n  - default_cache_behavior:\n      cache_policy:\n        min_tll: 1\n", []string{"line 4: field min_tll not found"}},
		{"unknown field in inline origin request policy", "distributions:\n  - default_cache_behavior:\n      origin_request_policy:\n        cookie: all\n", []string{"line 4: field cookie not found"}},
		{"unknown field in key selection", "cache_policies:\n  - name: p\n    headers:\n      behaviour: whitelist\n", []string{"line 4: field behaviour not found"}},
		{"wrong type", "distributions:\n  - id: a\n    origins:\n      - http_port: eighty\n", []string{"line 4: cannot unmarshal"}},
		{"bad size", "edge:\n  cache:\n    memory: lots\n", []string{"line 3:", `"lots" is not a size`}},
		{"bad duration in inline policy", "distributions:\n  - default_cache_behavior:\n      cache_policy: {max_ttl: forever}\n", []string{"line 3:", `"forever" is not a duration`}},
		{"policy ref is a list", "distributions:\n  - default_cache_behavior:\n      cache_policy: [a, b]\n", []string{"line 3: cache_policy must be a policy name or a policy mapping"}},
		{"duplicate key", "edge:\n  listen: a:1\n  listen: b:2\n", []string{"line 3: mapping key \"listen\" already defined"}},
		{"syntax", "edge: [\n", []string{"line"}},
		{"several at once", "edge:\n  lisen: x\nadmin:\n  port: 1\n", []string{"line 2: field lisen", "line 4: field port"}},
		{"two documents", minimal + "---\n" + minimal, []string{"more than one YAML document"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "bad.yaml")
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) || !strings.Contains(err.Error(), "bad.yaml") {
					t.Errorf("error %q lacks %q or the source name", err, w)
				}
			}
		})
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	c, err := Parse(nil, "empty.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Edge.Listen != DefaultEdgeListen || len(c.Distributions) != 0 {
		t.Errorf("empty config = %+v", c)
	}
}

func TestCachePolicyLookupWithoutProvision(t *testing.T) {
	c := &Config{CachePolicies: []*CachePolicy{{Name: "mine"}}}
	if p, ok := c.CachePolicy("mine"); !ok || p != c.CachePolicies[0] {
		t.Error("user policy not found before Provision")
	}
	if p, ok := c.CachePolicy("UseOriginCacheControlHeaders"); !ok || p.Name != "Managed-UseOriginCacheControlHeaders" {
		t.Errorf("CloudFront's unprefixed name resolved to %v", p)
	}
	if _, ok := c.OriginRequestPolicy("nope"); ok {
		t.Error("unknown origin request policy found")
	}
}

// TestAdvertisedTierAddress: a node advertises its tier_address, else its
// listen address when that names a host (with the port bound for port 0),
// else nothing.
func TestAdvertisedTierAddress(t *testing.T) {
	for _, tc := range []struct{ listen, tier, bound, want string }{
		{"127.0.0.1:8080", "", "127.0.0.1:8080", "127.0.0.1:8080"},
		{"127.0.0.1:0", "", "127.0.0.1:41234", "127.0.0.1:41234"},
		{"edge-1.internal:8080", "", "10.0.0.5:8080", "edge-1.internal:8080"},
		{":8080", "", "[::]:8080", ""},
		{"0.0.0.0:8080", "", "0.0.0.0:8080", ""},
		{"[::]:8080", "", "[::]:8080", ""},
		{":8080", "10.0.0.5:8080", "[::]:8080", "10.0.0.5:8080"},
		{"127.0.0.1:0", "", "", "127.0.0.1:0"},
	} {
		e := Edge{Listen: tc.listen, TierAddress: tc.tier}
		if got := e.AdvertisedTierAddress(tc.bound); got != tc.want {
			t.Errorf("listen %q tier_address %q bound %q: %q, want %q", tc.listen, tc.tier, tc.bound, got, tc.want)
		}
	}
}

func TestOriginShieldFromYAML(t *testing.T) {
	c := mustParse(t, `
edge: {role: shield, peering: false, tier_address: "10.0.0.5:8080"}
distributions:
  - id: a
    origins:
      - {id: o, domain_name: o.example.com, origin_shield: {enabled: true, region: fra}}
      - {id: p, domain_name: p.example.com, origin_shield: {enabled: false, region: fra}}
    default_cache_behavior: {target_origin_id: o}
`)
	d := c.Distributions[0]
	if d.Origins[0].ShieldRegion() != "fra" || d.Origins[1].ShieldRegion() != "" {
		t.Errorf("shield regions %q %q", d.Origins[0].ShieldRegion(), d.Origins[1].ShieldRegion())
	}
	if c.Edge.Role != RoleShield || c.Edge.PeeringEnabled() || c.Edge.TierAddress != "10.0.0.5:8080" {
		t.Errorf("edge %+v", c.Edge)
	}
}

// TestTrustedProxies: trusted_proxies takes prefixes and single addresses
// (IPv4-mapped ones unmapped), and client_ip_header defaults to
// X-Forwarded-For in its canonical spelling.
func TestTrustedProxies(t *testing.T) {
	c, err := Parse([]byte(`
edge:
  trusted_proxies: ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::ffff:198.51.100.0/120", "10.1.2.3/8"]
distributions: [{id: d, origins: [{id: o, domain_name: 127.0.0.1}], default_cache_behavior: {target_origin_id: o}}]
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range c.Edge.TrustedProxyPrefixes() {
		got = append(got, p.String())
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "198.51.100.0/24", "10.0.0.0/8"}
	if !slices.Equal(got, want) {
		t.Errorf("prefixes = %q, want %q", got, want)
	}
	if c.Edge.ClientIPHeader != "X-Forwarded-For" {
		t.Errorf("client_ip_header = %q", c.Edge.ClientIPHeader)
	}
	c, err = Parse([]byte(`
edge: {client_ip_header: x-real-ip}
distributions: [{id: d, origins: [{id: o, domain_name: 127.0.0.1}], default_cache_behavior: {target_origin_id: o}}]
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	if c.Edge.ClientIPHeader != "X-Real-Ip" {
		t.Errorf("client_ip_header = %q, want the canonical X-Real-Ip", c.Edge.ClientIPHeader)
	}
}
