package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"

	"go.yaml.in/yaml/v3"
)

// Example is the configuration `tern serve` runs with no --config: one
// distribution, "demo", in front of the built-in demo origin on
// 127.0.0.1:8081. It is also the commented template users start from.
//
//go:embed example.yaml
var Example []byte

// Config is one Tern configuration file. Once provisioned (Parse, Load or
// Provision) it is safe for concurrent reads.
type Config struct {
	// Edge configures this node's viewer-facing server and its cache.
	Edge Edge `yaml:"edge"`
	// Admin configures the admin server (metrics, health, API).
	Admin Admin `yaml:"admin"`
	// CachePolicies are named cache policies that behaviors may refer to,
	// in addition to the managed ones (see ManagedCachePolicies).
	CachePolicies []*CachePolicy `yaml:"cache_policies,omitempty"`
	// OriginRequestPolicies are named origin request policies that
	// behaviors may refer to, in addition to the managed ones.
	OriginRequestPolicies []*OriginRequestPolicy `yaml:"origin_request_policies,omitempty"`
	// ResponseHeadersPolicies are named response headers policies that
	// behaviors may refer to, in addition to the managed ones (see
	// ManagedResponseHeadersPolicies).
	ResponseHeadersPolicies []*ResponseHeadersPolicy `yaml:"response_headers_policies,omitempty"`
	// Distributions are the sites this node serves. A request goes to the
	// distribution one of whose aliases matches its Host.
	Distributions []*Distribution `yaml:"distributions"`
	// Geo names the databases that locate viewers (the router's nearest
	// POP; CloudFront's viewer headers). Default: none.
	Geo Geo `yaml:"geo,omitempty"`
	// Router configures the DNS request router (see Router). Default: none.
	Router *Router `yaml:"router,omitempty"`

	// Resolved by Provision: every cache, origin request and response
	// headers policy a behavior may name, managed ones included.
	cachePolicies           map[string]*CachePolicy
	originRequestPolicies   map[string]*OriginRequestPolicy
	responseHeadersPolicies map[string]*ResponseHeadersPolicy
}

// Geo names MaxMind-format databases (.mmdb). They are read into memory
// at start; a file replaced or rewritten on disk (geoipupdate, a copy) is
// read again and put in service within 30 seconds, without a restart (a
// file that is not a database of its kind is logged and the one in
// service stays).
type Geo struct {
	// Database is a City or Country database (GeoLite2/GeoIP2, or a custom
	// mmdb of the same layout): country, region, city, postal code, time
	// zone and coordinates. The router places clients by coordinates,
	// which only City databases hold: with a Country one every client
	// goes to router.default_pop. Default "" (none: locations are
	// unknown).
	Database string `yaml:"database,omitempty"`
	// ASNDatabase is an ASN database (GeoLite2-ASN layout), for
	// CloudFront-Viewer-ASN. Default "" (none).
	ASNDatabase string `yaml:"asn_database,omitempty"`
}

// Edge configures this node's viewer-facing HTTP server.
type Edge struct {
	// Listen is the address viewers connect to, host:port. Default
	// "127.0.0.1:8080". Use ":8080" or "0.0.0.0:8080" to accept
	// connections from other machines; port 0 picks a free port.
	Listen string `yaml:"listen"`
	// ListenTLS is the address viewers connect to over HTTPS, host:port,
	// e.g. ":443": HTTP/1.1 and HTTP/2 over TLS on TCP, and HTTP/3 on UDP
	// at the same port (see tls). Default "" (no HTTPS listener).
	ListenTLS string `yaml:"listen_tls,omitempty"`
	// TLS configures the HTTPS listener: certificates, security policy,
	// HTTP/2 and HTTP/3.
	TLS TLS `yaml:"tls,omitempty"`
	// NodeID names this node in logs, metrics and the control plane.
	// Letters, digits, ".", "-" and "_". Default: the machine's host name.
	NodeID string `yaml:"node_id"`
	// POP names the point of presence this node belongs to. Letters,
	// digits, ".", "-" and "_". Default "local".
	POP string `yaml:"pop"`
	// Cache sizes the in-memory cache.
	Cache EdgeCache `yaml:"cache"`
	// AccessLog is where the access log goes: "" (default) for nowhere,
	// "stdout", "stderr", or a file path.
	AccessLog string `yaml:"access_log,omitempty"`
	// Role is what this node is to other Tern nodes: "edge" (default)
	// serves viewers, or "shield", a regional cache: an origin whose
	// origin_shield names this node's POP as its region is fetched through
	// the shield-role nodes of that POP. A shield serves viewers too.
	Role string `yaml:"role,omitempty"`
	// TierAddress is the host:port at which other Tern nodes reach this
	// node's edge listener for tier-to-tier requests (POP peers and
	// shields), advertised in its heartbeats. Default: edge.listen when it
	// names a specific host (with the port actually bound when its port is
	// 0); when edge.listen is ":8080" or "0.0.0.0:8080" and tier_address is
	// not set, the node does not advertise itself: it still fetches
	// through its peers and shields, but none fetch through it. The host
	// must be one other nodes can connect to, not 0.0.0.0 or "::".
	TierAddress string `yaml:"tier_address,omitempty"`
	// Peering makes a miss go first to the object's owner among this
	// POP's live nodes (chosen by rendezvous hashing of the cache key), so
	// that a POP fetches each object once. Default true.
	Peering *bool `yaml:"peering,omitempty"`
	// TrustedProxies are the networks of the proxies or load balancers in
	// front of this edge, as CIDR prefixes ("10.0.0.0/8", "2001:db8::/32")
	// or single addresses. A request whose connection comes from one of
	// them is taken to be on behalf of the viewer named in
	// client_ip_header: the rightmost address in that header that is not
	// itself a trusted proxy (entries to its left were written by the
	// viewer and may be forged). If every address in it is trusted, the
	// leftmost is the viewer; if the header is missing, or the entry
	// found is not an address, the connection's address is. That viewer
	// address is the one the access log's c-ip records, the
	// CloudFront-Viewer-* headers describe, and X-Forwarded-For ends with
	// toward the origin. Default: none (the connection's address is always
	// the viewer's).
	TrustedProxies []string `yaml:"trusted_proxies,omitempty"`
	// ClientIPHeader is the request header in which trusted proxies name
	// the viewer: a comma-separated list of addresses, each optionally
	// with a port ("192.0.2.1", "192.0.2.1:5000", "[2001:db8::1]:5000"),
	// the nearest proxy's last, as in X-Forwarded-For. A single-address
	// header such as X-Real-IP or True-Client-IP works too. When it is
	// X-Forwarded-For, the trusted proxies' own entries after the viewer
	// are not sent on to the origin. Default "X-Forwarded-For".
	ClientIPHeader string `yaml:"client_ip_header,omitempty"`
}

// TrustedProxyPrefixes returns TrustedProxies as prefixes, a single
// address as a one-address prefix. Entries that do not parse are left out
// (Validate reports them).
func (e *Edge) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range e.TrustedProxies {
		if p, ok := parseProxy(s); ok {
			out = append(out, p)
		}
	}
	return out
}

// parseProxy reads one trusted_proxies entry. IPv4-mapped IPv6 forms are
// unmapped, as the edge unmaps the addresses it compares with them.
func parseProxy(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// PeeringEnabled reports whether misses go through the POP's owner of
// each object (Peering, default true).
func (e *Edge) PeeringEnabled() bool { return e.Peering == nil || *e.Peering }

// AdvertisedTierAddress is the address this node advertises for
// tier-to-tier requests: TierAddress if set, else bound (the edge
// listener's actual address) when Listen names a specific host, else ""
// (the node does not advertise itself).
func (e *Edge) AdvertisedTierAddress(bound string) string {
	if e.TierAddress != "" {
		return e.TierAddress
	}
	host, _, err := net.SplitHostPort(e.Listen)
	if err != nil || unspecifiedHost(host) {
		return ""
	}
	if _, port, err := net.SplitHostPort(bound); err == nil && port != "0" {
		return net.JoinHostPort(host, port)
	}
	return e.Listen
}

// unspecifiedHost reports whether host in a listen address means every
// interface, so that other nodes cannot be told to connect to it.
func unspecifiedHost(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// EdgeCache sizes the cache tiers: memory, and optionally disks under it.
type EdgeCache struct {
	// Memory is the most the in-memory cache holds, e.g. "512MiB" or
	// "2GiB". Default 512MiB.
	Memory ByteSize `yaml:"memory"`
	// MaxObjectSize is the largest response the cache stores; larger
	// responses stream through to the viewer uncached. Default 64MiB, or
	// memory if that is smaller. Must not exceed memory.
	MaxObjectSize ByteSize `yaml:"max_object_size"`
	// Disk adds persistent tiers under the memory tier: one mapping
	// ({path, size}) or a list of them, one per disk. Objects are spread
	// over the disks by key; they survive restarts and crashes, and each is
	// checksummed. Default: none (memory only).
	Disk Disks `yaml:"disk,omitempty"`
	// DiskMaxObjectSize is the largest response the disk tiers store
	// whole. Objects of any size are kept slice by slice for range
	// requests; one such partial object takes at most a quarter of a disk.
	// Default 1GiB, or the smallest disk's size if that is smaller.
	DiskMaxObjectSize ByteSize `yaml:"disk_max_object_size,omitempty"`
	// SliceSize is the unit in which bodies are stored on disk, each slice
	// with its own checksum. With a disk tier, a range request for an
	// object not cached (or for slices a cached part lacks) fetches from
	// the origin only the aligned slices that hold the range, at most
	// 8MiB (or one slice) per origin request, and stores them: a 10GiB
	// object is never fetched whole to answer one range. Default 4MiB;
	// between 64KiB and 64MiB.
	SliceSize ByteSize `yaml:"slice_size,omitempty"`
	// Fsync makes an object count as stored only once its data and index
	// are on stable storage, so that it also survives power loss. Off, the
	// disk tiers survive crashes of Tern (kill -9) but may lose the last
	// seconds of writes to a power cut. Default false.
	Fsync bool `yaml:"fsync,omitempty"`
}

// DiskCache is one disk tier.
type DiskCache struct {
	// Path is the directory the tier keeps its data and index in; it is
	// created if missing, and no two tiers (or edges) may share one.
	Path string `yaml:"path"`
	// Size is the most data the tier holds, e.g. "100GiB". Required.
	Size ByteSize `yaml:"size"`
}

// Disks is edge.cache.disk: one DiskCache, or a list of them.
type Disks []DiskCache

// UnmarshalYAML accepts one mapping or a list of mappings. It uses the
// callback form for the reason KeySelection.UnmarshalYAML gives.
func (d *Disks) UnmarshalYAML(unmarshal func(any) error) error {
	n, err := captureNode(unmarshal)
	if err != nil {
		return err
	}
	if n.Kind == yaml.MappingNode {
		var one DiskCache
		if err := unmarshal(&one); err != nil {
			return err
		}
		*d = Disks{one}
		return nil
	}
	return unmarshal((*[]DiskCache)(d))
}

// AdminOff as Admin.Listen turns the admin server off.
const AdminOff = "off"

// Admin configures the admin server: metrics, health checks and the API.
type Admin struct {
	// Listen is the admin server's address, host:port. Default
	// "127.0.0.1:9090"; "off" turns the admin server off. Keep it on a
	// loopback or private address: it is not meant for viewers.
	Listen string `yaml:"listen"`
}

// Enabled reports whether the admin server should run.
func (a Admin) Enabled() bool { return a.Listen != AdminOff }

// Load reads and parses the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes a configuration from data, fills in defaults, validates
// it and resolves its references (see Provision). source names the data in
// errors, usually the file path. Unknown fields and values of the wrong
// type are errors that name their line; validation errors name the field
// path (see FieldError) and are all reported at once.
func Parse(data []byte, source string) (*Config, error) {
	c := new(Config)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decode config %s: %w", source, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decode config %s: more than one YAML document (remove the \"---\" separator)", source)
	}
	if err := c.Provision(); err != nil {
		return nil, fmt.Errorf("check config %s:\n%w", source, err)
	}
	return c, nil
}

// Provision makes a Config built in code ready to use, as Parse does for a
// file: it fills in defaults (ApplyDefaults), validates (Validate) and
// resolves references: every CacheBehavior's CachePolicy.Policy,
// OriginRequestPolicy.Policy and target, and each OriginGroup's members.
func (c *Config) Provision() error {
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return err
	}
	c.resolve()
	return nil
}

// CachePolicy returns the user-defined or managed cache policy called name
// (a managed one also without its "Managed-" prefix).
func (c *Config) CachePolicy(name string) (*CachePolicy, bool) {
	m := c.cachePolicies
	if m == nil { // not provisioned: build a throwaway index
		m = c.cachePolicyIndex()
	}
	return lookupManaged(m, name)
}

// OriginRequestPolicy returns the user-defined or managed origin request
// policy called name.
func (c *Config) OriginRequestPolicy(name string) (*OriginRequestPolicy, bool) {
	m := c.originRequestPolicies
	if m == nil {
		m = c.originRequestPolicyIndex()
	}
	return lookupManaged(m, name)
}

// ResponseHeadersPolicy returns the user-defined or managed response
// headers policy called name (a managed one also without its "Managed-"
// prefix, or by its CloudFront id).
func (c *Config) ResponseHeadersPolicy(name string) (*ResponseHeadersPolicy, bool) {
	m := c.responseHeadersPolicies
	if m == nil {
		m = c.responseHeadersPolicyIndex()
	}
	return lookupManaged(m, name)
}

// Distribution returns the distribution with the given id.
func (c *Config) Distribution(id string) (*Distribution, bool) {
	for _, d := range c.Distributions {
		if d != nil && d.ID == id {
			return d, true
		}
	}
	return nil, false
}

func (c *Config) cachePolicyIndex() map[string]*CachePolicy {
	m := make(map[string]*CachePolicy)
	for _, p := range ManagedCachePolicies() {
		m[p.Name] = p
	}
	for _, p := range c.CachePolicies {
		if p != nil && p.Name != "" {
			if _, taken := m[p.Name]; !taken {
				m[p.Name] = p
			}
		}
	}
	return m
}

func (c *Config) originRequestPolicyIndex() map[string]*OriginRequestPolicy {
	m := make(map[string]*OriginRequestPolicy)
	for _, p := range ManagedOriginRequestPolicies() {
		m[p.Name] = p
	}
	for _, p := range c.OriginRequestPolicies {
		if p != nil && p.Name != "" {
			if _, taken := m[p.Name]; !taken {
				m[p.Name] = p
			}
		}
	}
	return m
}

// responseHeadersPolicyIndex holds the managed policies by name and by
// id, and the user-defined ones by name.
func (c *Config) responseHeadersPolicyIndex() map[string]*ResponseHeadersPolicy {
	m := make(map[string]*ResponseHeadersPolicy)
	for _, p := range ManagedResponseHeadersPolicies() {
		m[p.Name] = p
		m[p.ID] = p
	}
	for _, p := range c.ResponseHeadersPolicies {
		if p != nil && p.Name != "" {
			if _, taken := m[p.Name]; !taken {
				m[p.Name] = p
			}
		}
	}
	return m
}

// resolve points every reference at what it names. It runs after Validate,
// so every name is known.
func (c *Config) resolve() {
	c.cachePolicies = c.cachePolicyIndex()
	c.originRequestPolicies = c.originRequestPolicyIndex()
	c.responseHeadersPolicies = c.responseHeadersPolicyIndex()
	for _, d := range c.Distributions {
		for _, g := range d.OriginGroups {
			g.Primary, _ = d.Origin(g.Members[0])
			g.Secondary, _ = d.Origin(g.Members[1])
		}
		for _, b := range d.behaviors() {
			b.Origin, _ = d.Origin(b.TargetOriginID)
			b.OriginGroup, _ = d.OriginGroup(b.TargetOriginID)
			if r := b.CachePolicy; r.Inline != nil {
				r.Policy = r.Inline
			} else {
				r.Policy, _ = c.CachePolicy(r.Name)
			}
			if r := b.OriginRequestPolicy; r != nil {
				if r.Inline != nil {
					r.Policy = r.Inline
				} else {
					r.Policy, _ = c.OriginRequestPolicy(r.Name)
				}
			}
			if r := b.ResponseHeadersPolicy; r != nil {
				if r.Inline != nil {
					r.Policy = r.Inline
				} else {
					r.Policy, _ = c.ResponseHeadersPolicy(r.Name)
				}
			}
		}
	}
}
