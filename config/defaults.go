package config

import (
	"net/textproto"
	"os"
	"strings"
	"time"
)

// Defaults, as documented on each field.
const (
	DefaultEdgeListen           = "127.0.0.1:8080"
	DefaultAdminListen          = "127.0.0.1:9090"
	DefaultPOP                  = "local"
	DefaultClientIPHeader       = "X-Forwarded-For"
	RoleEdge                    = "edge"   // edge.role: serves viewers
	RoleShield                  = "shield" // edge.role: a regional cache
	DefaultMemory               = 512 * MiB
	DefaultMaxObjectSize        = 64 * MiB
	DefaultDiskMaxObjectSize    = 1 * GiB
	DefaultSliceSize            = 4 * MiB
	DefaultHTTPPort             = 80
	DefaultHTTPSPort            = 443
	DefaultConnectionAttempts   = 3
	DefaultConnectionTimeout    = Duration(10 * time.Second)
	DefaultResponseTimeout      = Duration(30 * time.Second)
	DefaultKeepaliveTimeout     = Duration(5 * time.Second)
	DefaultErrorCachingMinTTL   = 10 // seconds
	DefaultMinTTL               = Duration(0)
	DefaultDefaultTTL           = Duration(oneDay * time.Second)
	DefaultMaxTTL               = Duration(oneYear * time.Second)
	defaultNodeIDWhenNoHostname = "tern"
)

// ApplyDefaults fills in every unset field that has a default (see each
// field's documentation) and normalises spellings: aliases and policy
// header names to lower case, path patterns to a leading "/", "[::1]" to
// "::1". It leaves nil entries and invalid values for Validate to report.
func (c *Config) ApplyDefaults() {
	setString(&c.Edge.Listen, DefaultEdgeListen)
	if c.Edge.NodeID == "" {
		c.Edge.NodeID = hostname()
	}
	setString(&c.Edge.POP, DefaultPOP)
	setString(&c.Edge.Role, RoleEdge)
	setString(&c.Edge.ClientIPHeader, DefaultClientIPHeader)
	c.Edge.TLS.applyDefaults()
	if validToken(c.Edge.ClientIPHeader) {
		c.Edge.ClientIPHeader = textproto.CanonicalMIMEHeaderKey(c.Edge.ClientIPHeader)
	}
	if c.Edge.Cache.Memory == 0 {
		c.Edge.Cache.Memory = DefaultMemory
	}
	if c.Edge.Cache.SliceSize == 0 {
		c.Edge.Cache.SliceSize = DefaultSliceSize
	}
	if c.Edge.Cache.DiskMaxObjectSize == 0 && len(c.Edge.Cache.Disk) > 0 {
		smallest := c.Edge.Cache.Disk[0].Size
		for _, d := range c.Edge.Cache.Disk {
			smallest = min(smallest, d.Size)
		}
		c.Edge.Cache.DiskMaxObjectSize = min(DefaultDiskMaxObjectSize, max(smallest, 1))
	}
	if c.Edge.Cache.MaxObjectSize == 0 {
		c.Edge.Cache.MaxObjectSize = min(DefaultMaxObjectSize, max(c.Edge.Cache.Memory, 1))
	}
	setString(&c.Admin.Listen, DefaultAdminListen)
	if c.Router != nil {
		c.Router.applyDefaults()
	}

	for _, p := range c.CachePolicies {
		p.applyDefaults()
	}
	for _, p := range c.OriginRequestPolicies {
		p.applyDefaults()
	}
	for _, d := range c.Distributions {
		d.applyDefaults()
	}
}

func (p *CachePolicy) applyDefaults() {
	if p == nil {
		return
	}
	for _, k := range []*KeySelection{&p.Headers, &p.Cookies, &p.QueryStrings} {
		setString(&k.Behavior, SelectNone)
	}
	lowerAll(p.Headers.Names)
	if p.OriginControlled {
		return
	}
	// CloudFront's rule (CachePolicyConfig): DefaultTTL defaults to one day
	// or MinTTL if larger; MaxTTL to one year or DefaultTTL if larger.
	if p.MinTTL == nil {
		p.MinTTL = durationPtr(DefaultMinTTL)
	}
	if p.DefaultTTL == nil {
		p.DefaultTTL = durationPtr(max(DefaultDefaultTTL, *p.MinTTL))
	}
	if p.MaxTTL == nil {
		p.MaxTTL = durationPtr(max(DefaultMaxTTL, *p.DefaultTTL))
	}
}

func (p *OriginRequestPolicy) applyDefaults() {
	if p == nil {
		return
	}
	for _, k := range []*KeySelection{&p.Headers, &p.Cookies, &p.QueryStrings} {
		setString(&k.Behavior, SelectNone)
	}
	lowerAll(p.Headers.Names)
}

func (d *Distribution) applyDefaults() {
	if d == nil {
		return
	}
	lowerAll(d.Aliases)
	for _, o := range d.Origins {
		if o == nil {
			continue
		}
		setInt(&o.HTTPPort, DefaultHTTPPort)
		setInt(&o.HTTPSPort, DefaultHTTPSPort)
		setString(&o.ProtocolPolicy, OriginHTTPOnly)
		setInt(&o.ConnectionAttempts, DefaultConnectionAttempts)
		setDuration(&o.ConnectionTimeout, DefaultConnectionTimeout)
		setDuration(&o.ResponseTimeout, DefaultResponseTimeout)
		setDuration(&o.KeepaliveTimeout, DefaultKeepaliveTimeout)
		o.TLS.applyDefaults()
		if strings.HasPrefix(o.DomainName, "[") && strings.HasSuffix(o.DomainName, "]") {
			o.DomainName = o.DomainName[1 : len(o.DomainName)-1] // "[::1]" is "::1"
		}
	}
	if b := d.DefaultCacheBehavior; b != nil {
		b.applyDefaults()
	}
	for _, b := range d.CacheBehaviors {
		if b == nil {
			continue
		}
		b.applyDefaults()
		if b.PathPattern != "" && !strings.HasPrefix(b.PathPattern, "/") {
			b.PathPattern = "/" + b.PathPattern
		}
	}
	for _, e := range d.CustomErrorResponses {
		if e != nil && e.ErrorCachingMinTTL == nil {
			secs := int64(DefaultErrorCachingMinTTL)
			e.ErrorCachingMinTTL = &secs
		}
	}
}

func (b *CacheBehavior) applyDefaults() {
	setString(&b.ViewerProtocolPolicy, ViewerAllowAll)
	if len(b.AllowedMethods) == 0 {
		b.AllowedMethods = []string{"GET", "HEAD"}
	}
	if len(b.CachedMethods) == 0 {
		b.CachedMethods = []string{"GET", "HEAD"}
	}
	if b.CachePolicy == nil {
		b.CachePolicy = &CachePolicyRef{Name: DefaultCachePolicy}
	}
	if p := b.CachePolicy.Inline; p != nil {
		p.applyDefaults()
	}
	if r := b.OriginRequestPolicy; r != nil && r.Inline != nil {
		r.Inline.applyDefaults()
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return defaultNodeIDWhenNoHostname
	}
	// Keep the first label: node ids end up in metric labels and subjects,
	// where dots separate tokens.
	h, _, _ = strings.Cut(h, ".")
	if !validID(h) {
		return defaultNodeIDWhenNoHostname
	}
	return h
}

func setString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func setInt(i *int, def int) {
	if *i == 0 {
		*i = def
	}
}

func setDuration(d *Duration, def Duration) {
	if *d == 0 {
		*d = def
	}
}

func durationPtr(d Duration) *Duration { return &d }

func lowerAll(ss []string) {
	for i, s := range ss {
		ss[i] = strings.ToLower(s)
	}
}
