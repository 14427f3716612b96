package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// CachePolicy decides what goes into the cache key and how long responses
// stay fresh: CloudFront's cache policy. The headers, cookies and query
// strings in the cache key are also sent to the origin.
type CachePolicy struct {
	// Name identifies the policy; behaviors refer to it by this name.
	// Letters, digits, "-" and "_", at most 128 characters. Required for
	// policies under cache_policies; may be left out for an inline policy.
	// Names starting with "Managed-" or "Tern-" are reserved for the
	// built-in policies.
	Name string `yaml:"name,omitempty"`
	// Comment describes the policy, at most 128 characters.
	Comment string `yaml:"comment,omitempty"`

	// MinTTL is the shortest time a response stays in the cache, even if
	// the origin asks for less (Cache-Control max-age, s-maxage, Expires).
	// Seconds or a duration. Default 0. As in CloudFront, a min_ttl above 0
	// keeps even responses marked no-cache, no-store or private.
	MinTTL *Duration `yaml:"min_ttl,omitempty"`
	// DefaultTTL is how long a response stays fresh when the origin says
	// nothing about freshness (no Cache-Control max-age or s-maxage, no
	// Expires). Default 86400 (one day), or min_ttl if that is larger.
	DefaultTTL *Duration `yaml:"default_ttl,omitempty"`
	// MaxTTL is the longest time a response stays fresh, whatever the
	// origin asks for. Default 31536000 (one year), or default_ttl if that
	// is larger. min_ttl <= default_ttl <= max_ttl is required.
	MaxTTL *Duration `yaml:"max_ttl,omitempty"`

	// Headers selects the request headers in the cache key: none (default)
	// or whitelist, as in CloudFront cache policies. Names are matched
	// without regard to case. Do not list Accept-Encoding: use the
	// enable_accept_encoding_* switches instead.
	Headers KeySelection `yaml:"headers"`
	// Cookies selects the cookies in the cache key: none (default),
	// whitelist, allExcept or all.
	Cookies KeySelection `yaml:"cookies"`
	// QueryStrings selects the query string parameters in the cache key:
	// none (default), whitelist, allExcept or all.
	QueryStrings KeySelection `yaml:"query_strings"`

	// EnableAcceptEncodingGzip caches gzip-compressed responses separately
	// (the normalised Accept-Encoding joins the cache key). Default false.
	EnableAcceptEncodingGzip bool `yaml:"enable_accept_encoding_gzip"`
	// EnableAcceptEncodingBrotli does the same for Brotli. Default false.
	EnableAcceptEncodingBrotli bool `yaml:"enable_accept_encoding_brotli"`
	// EnableAcceptEncodingZstd does the same for zstd (Tern's own; CloudFront
	// has no zstd). Default false.
	EnableAcceptEncodingZstd bool `yaml:"enable_accept_encoding_zstd,omitempty"`

	// OriginControlled is Tern's own mode: the cache behaves as a pure RFC
	// 9111 shared cache. Freshness comes only from the origin's headers
	// (s-maxage, max-age, Expires; RFC 9111 §4.2.1), else from heuristic
	// freshness (RFC 9111 §4.2.2), and no-store, private and no-cache are
	// obeyed. min_ttl, default_ttl and max_ttl are not used and must be
	// left out. Default false.
	OriginControlled bool `yaml:"origin_controlled,omitempty"`

	// Managed is true for the built-in policies (see ManagedCachePolicies).
	Managed bool `yaml:"-"`
}

// TTLs returns the policy's minimum, default and maximum TTL. They are zero
// when the policy is OriginControlled (which has no TTL clamps; check that
// first) and, for a policy that has not been through Parse or Provision,
// wherever a TTL is unset.
func (p *CachePolicy) TTLs() (minTTL, defTTL, maxTTL time.Duration) {
	if p.OriginControlled {
		return 0, 0, 0
	}
	get := func(d *Duration) time.Duration {
		if d == nil {
			return 0
		}
		return time.Duration(*d)
	}
	return get(p.MinTTL), get(p.DefaultTTL), get(p.MaxTTL)
}

// OriginRequestPolicy decides which viewer request values are sent to the
// origin on a cache miss without being part of the cache key: CloudFront's
// origin request policy. Values in the cache policy are always sent too.
type OriginRequestPolicy struct {
	// Name identifies the policy, as for CachePolicy.Name.
	Name string `yaml:"name,omitempty"`
	// Comment describes the policy, at most 128 characters.
	Comment string `yaml:"comment,omitempty"`
	// Headers selects the viewer headers sent to the origin: none
	// (default), whitelist, allViewer, allViewerAndWhitelistCloudFront
	// (every viewer header plus the CloudFront-* headers named) or
	// allExcept.
	Headers KeySelection `yaml:"headers"`
	// Cookies selects the cookies sent to the origin: none (default),
	// whitelist, all or allExcept.
	Cookies KeySelection `yaml:"cookies"`
	// QueryStrings selects the query string parameters sent to the
	// origin: none (default), whitelist, all or allExcept.
	QueryStrings KeySelection `yaml:"query_strings"`

	// Managed is true for the built-in policies (see
	// ManagedOriginRequestPolicies).
	Managed bool `yaml:"-"`
}

// Key selection behaviors, with CloudFront's spelling.
const (
	SelectNone                            = "none"
	SelectWhitelist                       = "whitelist"
	SelectAllExcept                       = "allExcept"
	SelectAll                             = "all"
	SelectAllViewer                       = "allViewer"
	SelectAllViewerAndWhitelistCloudFront = "allViewerAndWhitelistCloudFront"
)

// KeySelection picks a set of headers, cookies or query string parameters.
// In YAML it is a mapping {behavior: whitelist, names: [a, b]} or, when no
// names are needed, just the behavior: `cookies: all`.
type KeySelection struct {
	// Behavior is how names are chosen: none, whitelist (only Names),
	// allExcept (all but Names), all, or for origin request policy headers
	// allViewer and allViewerAndWhitelistCloudFront. Default none.
	Behavior string `yaml:"behavior"`
	// Names are the header, cookie or parameter names. Required for
	// whitelist, allExcept and allViewerAndWhitelistCloudFront, not allowed
	// otherwise. Header names are compared without regard to case and are
	// stored in lower case; cookie and parameter names are case-sensitive.
	Names []string `yaml:"names,omitempty"`
}

// UnmarshalYAML accepts a behavior alone or the full mapping.
//
// It uses yaml.v3's older callback form on purpose: the callback decodes
// with the caller's decoder, so KnownFields(true) still catches a misspelt
// key inside the mapping, which yaml.Node.Decode would silently drop.
func (k *KeySelection) UnmarshalYAML(unmarshal func(any) error) error {
	n, err := captureNode(unmarshal)
	if err != nil {
		return err
	}
	if n.Kind == yaml.ScalarNode {
		*k = KeySelection{Behavior: n.Value}
		return nil
	}
	type keySelection KeySelection
	return unmarshal((*keySelection)(k))
}

// MarshalYAML writes the short form when there are no names.
func (k KeySelection) MarshalYAML() (any, error) {
	if len(k.Names) == 0 {
		return k.Behavior, nil
	}
	type keySelection KeySelection
	return keySelection(k), nil
}

// unmarshalPolicyRef reads a behavior's policy reference: a scalar is a
// policy's name (or id), a mapping an inline policy P, whose name is
// name(p). Anything else is refused with want. See
// KeySelection.UnmarshalYAML for why it uses the callback form.
func unmarshalPolicyRef[P any](unmarshal func(any) error, name func(*P) string, want string) (string, *P, error) {
	n, err := captureNode(unmarshal)
	if err != nil {
		return "", nil, err
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value, nil, nil
	case yaml.MappingNode:
		p := new(P)
		if err := unmarshal(p); err != nil {
			return "", nil, err
		}
		return name(p), p, nil
	}
	return "", nil, typeError(n, "%s", want)
}

// CachePolicyRef is a behavior's cache policy: in YAML either the name of a
// managed or user-defined policy (`cache_policy: Managed-CachingOptimized`)
// or an inline policy mapping (whose name may be left out).
type CachePolicyRef struct {
	// Name is the policy name as written, or the inline policy's name.
	Name string
	// Inline is the policy written in place, or nil for a reference by name.
	Inline *CachePolicy
	// Policy is the policy in force, set by Parse and Provision: the named
	// managed or user-defined policy, or Inline.
	Policy *CachePolicy
}

// UnmarshalYAML accepts a policy name or an inline policy mapping. See
// KeySelection.UnmarshalYAML for why it uses the callback form.
func (r *CachePolicyRef) UnmarshalYAML(unmarshal func(any) error) error {
	name, inline, err := unmarshalPolicyRef(unmarshal, func(p *CachePolicy) string { return p.Name }, "cache_policy must be a policy name or a policy mapping")
	*r = CachePolicyRef{Name: name, Inline: inline}
	return err
}

// MarshalYAML writes the inline policy, or the name.
func (r CachePolicyRef) MarshalYAML() (any, error) {
	if r.Inline != nil {
		return r.Inline, nil
	}
	return r.Name, nil
}

// OriginRequestPolicyRef is a behavior's origin request policy, by name or
// inline, as CachePolicyRef.
type OriginRequestPolicyRef struct {
	// Name is the policy name as written, or the inline policy's name.
	Name string
	// Inline is the policy written in place, or nil for a reference by name.
	Inline *OriginRequestPolicy
	// Policy is the policy in force, set by Parse and Provision.
	Policy *OriginRequestPolicy
}

// UnmarshalYAML accepts a policy name or an inline policy mapping.
func (r *OriginRequestPolicyRef) UnmarshalYAML(unmarshal func(any) error) error {
	name, inline, err := unmarshalPolicyRef(unmarshal, func(p *OriginRequestPolicy) string { return p.Name }, "origin_request_policy must be a policy name or a policy mapping")
	*r = OriginRequestPolicyRef{Name: name, Inline: inline}
	return err
}

// MarshalYAML writes the inline policy, or the name.
func (r OriginRequestPolicyRef) MarshalYAML() (any, error) {
	if r.Inline != nil {
		return r.Inline, nil
	}
	return r.Name, nil
}

// nodeCapture records the node it is decoded from. Decoding into a
// yaml.Node through the callback of the older Unmarshaler form does not
// work (the decoder only special-cases a yaml.Node value, not a pointer),
// but a type with the newer UnmarshalYAML(*yaml.Node) receives the node.
type nodeCapture struct{ n *yaml.Node }

func (c *nodeCapture) UnmarshalYAML(n *yaml.Node) error {
	c.n = n
	return nil
}

func captureNode(unmarshal func(any) error) (*yaml.Node, error) {
	var c nodeCapture
	if err := unmarshal(&c); err != nil {
		return nil, err
	}
	return c.n, nil
}
