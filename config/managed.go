package config

import "strings"

// Names of the built-in policies that defaults refer to.
const (
	// DefaultCachePolicy is used by a behavior with no cache_policy.
	DefaultCachePolicy = "Managed-CachingOptimized"
	// OriginControlledCachePolicy is Tern's pure RFC 9111 policy.
	OriginControlledCachePolicy = "Tern-OriginControlled"
)

// Prefixes reserved for built-in policy names.
const (
	managedPrefix = "Managed-"
	ternPrefix    = "Tern-"
)

func ttl(seconds int64) *Duration {
	d := Duration(seconds * 1e9)
	return &d
}

const (
	oneDay  = 86400
	oneYear = 31536000
)

// ManagedCachePolicies returns CloudFront's managed cache policies, with the
// settings CloudFront documents ("Use managed cache policies", CloudFront
// Developer Guide), and Tern's own Tern-OriginControlled. Each call returns
// new values, so callers may keep or change them.
//
// A behavior may name them with or without the "Managed-" prefix:
// CloudFront's API itself calls two of them UseOriginCacheControlHeaders
// and UseOriginCacheControlHeaders-QueryStrings.
func ManagedCachePolicies() []*CachePolicy {
	none := KeySelection{Behavior: SelectNone}
	all := KeySelection{Behavior: SelectAll}
	originHeaders := KeySelection{Behavior: SelectWhitelist, Names: []string{
		"host", "origin", "x-http-method-override", "x-http-method", "x-method-override",
	}}
	return []*CachePolicy{{
		Name:    "Managed-CachingOptimized",
		Comment: "Small cache key (only the normalised Accept-Encoding), long TTLs",
		MinTTL:  ttl(1), DefaultTTL: ttl(oneDay), MaxTTL: ttl(oneYear),
		Headers: none, Cookies: none, QueryStrings: none,
		EnableAcceptEncodingGzip: true, EnableAcceptEncodingBrotli: true,
		Managed: true,
	}, {
		Name:    "Managed-CachingOptimizedForUncompressedObjects",
		Comment: "As Managed-CachingOptimized, without compressed variants",
		MinTTL:  ttl(1), DefaultTTL: ttl(oneDay), MaxTTL: ttl(oneYear),
		Headers: none, Cookies: none, QueryStrings: none,
		Managed: true,
	}, {
		Name:    "Managed-CachingDisabled",
		Comment: "Policy with caching disabled",
		MinTTL:  ttl(0), DefaultTTL: ttl(0), MaxTTL: ttl(0),
		Headers: none, Cookies: none, QueryStrings: none,
		Managed: true,
	}, {
		Name:    "Managed-UseOriginCacheControlHeaders",
		Comment: "Policy for origins that return Cache-Control headers",
		MinTTL:  ttl(0), DefaultTTL: ttl(0), MaxTTL: ttl(oneYear),
		Headers: originHeaders, Cookies: all, QueryStrings: none,
		EnableAcceptEncodingGzip: true, EnableAcceptEncodingBrotli: true,
		Managed: true,
	}, {
		Name:    "Managed-UseOriginCacheControlHeaders-QueryStrings",
		Comment: "Policy for origins that return Cache-Control headers and serve different content based on query strings",
		MinTTL:  ttl(0), DefaultTTL: ttl(0), MaxTTL: ttl(oneYear),
		Headers: KeySelection{Behavior: SelectWhitelist, Names: append([]string(nil), originHeaders.Names...)},
		Cookies: all, QueryStrings: all,
		EnableAcceptEncodingGzip: true, EnableAcceptEncodingBrotli: true,
		Managed: true,
	}, {
		Name:    "Managed-Elemental-MediaPackage",
		Comment: "Policy for Elemental MediaPackage Origin",
		MinTTL:  ttl(0), DefaultTTL: ttl(oneDay), MaxTTL: ttl(oneYear),
		Headers: KeySelection{Behavior: SelectWhitelist, Names: []string{"origin"}},
		Cookies: none,
		QueryStrings: KeySelection{Behavior: SelectWhitelist, Names: []string{
			"aws.manifestfilter", "start", "end", "m",
		}},
		EnableAcceptEncodingGzip: true,
		Managed:                  true,
	}, {
		Name:    "Managed-Amplify",
		Comment: "Policy for Amplify Origin",
		MinTTL:  ttl(2), DefaultTTL: ttl(2), MaxTTL: ttl(600),
		Headers: KeySelection{Behavior: SelectWhitelist, Names: []string{
			"authorization", "cloudfront-viewer-country", "host",
		}},
		Cookies: all, QueryStrings: all,
		EnableAcceptEncodingGzip: true, EnableAcceptEncodingBrotli: true,
		Managed: true,
	}, {
		Name:    OriginControlledCachePolicy,
		Comment: "Pure RFC 9111 shared cache: freshness only from the origin's headers, else heuristic",
		Headers: none, Cookies: none, QueryStrings: none,
		EnableAcceptEncodingGzip: true, EnableAcceptEncodingBrotli: true,
		OriginControlled: true,
		Managed:          true,
	}}
}

// ManagedOriginRequestPolicies returns CloudFront's managed origin request
// policies with the settings CloudFront documents ("Use managed origin
// request policies", CloudFront Developer Guide). Each call returns new
// values.
func ManagedOriginRequestPolicies() []*OriginRequestPolicy {
	none := KeySelection{Behavior: SelectNone}
	all := KeySelection{Behavior: SelectAll}
	wl := func(names ...string) KeySelection { return KeySelection{Behavior: SelectWhitelist, Names: names} }
	return []*OriginRequestPolicy{{
		Name:    "Managed-AllViewer",
		Comment: "Policy to forward all parameters in viewer requests",
		Headers: KeySelection{Behavior: SelectAllViewer}, Cookies: all, QueryStrings: all,
		Managed: true,
	}, {
		Name:    "Managed-AllViewerExceptHostHeader",
		Comment: "Policy to forward all parameters in viewer requests except for the Host header",
		Headers: KeySelection{Behavior: SelectAllExcept, Names: []string{"host"}}, Cookies: all, QueryStrings: all,
		Managed: true,
	}, {
		Name:    "Managed-AllViewerAndCloudFrontHeaders-2022-06",
		Comment: "Policy to forward all parameters in viewer requests and all CloudFront headers",
		Headers: KeySelection{Behavior: SelectAllViewerAndWhitelistCloudFront, Names: []string{
			"cloudfront-forwarded-proto", "cloudfront-is-android-viewer", "cloudfront-is-desktop-viewer",
			"cloudfront-is-ios-viewer", "cloudfront-is-mobile-viewer", "cloudfront-is-smarttv-viewer",
			"cloudfront-is-tablet-viewer", "cloudfront-viewer-address", "cloudfront-viewer-asn",
			"cloudfront-viewer-city", "cloudfront-viewer-country", "cloudfront-viewer-country-name",
			"cloudfront-viewer-country-region", "cloudfront-viewer-country-region-name",
			"cloudfront-viewer-http-version", "cloudfront-viewer-latitude", "cloudfront-viewer-longitude",
			"cloudfront-viewer-metro-code", "cloudfront-viewer-postal-code", "cloudfront-viewer-time-zone",
			"cloudfront-viewer-tls",
		}},
		Cookies: all, QueryStrings: all,
		Managed: true,
	}, {
		Name:    "Managed-CORS-CustomOrigin",
		Comment: "Policy for Custom Origin with CORS",
		Headers: wl("origin"), Cookies: none, QueryStrings: none,
		Managed: true,
	}, {
		Name:    "Managed-CORS-S3Origin",
		Comment: "Policy for S3 origin with CORS",
		Headers: wl("origin", "access-control-request-headers", "access-control-request-method"),
		Cookies: none, QueryStrings: none,
		Managed: true,
	}, {
		Name:    "Managed-UserAgentRefererHeaders",
		Comment: "Policy for forwarding User-Agent and Referer headers",
		Headers: wl("user-agent", "referer"), Cookies: none, QueryStrings: none,
		Managed: true,
	}, {
		Name:    "Managed-Elemental-MediaTailor-PersonalizedManifests",
		Comment: "Policy for Elemental MediaTailor Personalized Manifests",
		Headers: wl("origin", "access-control-request-headers", "access-control-request-method",
			"user-agent", "x-forwarded-for"),
		Cookies: none, QueryStrings: all,
		Managed: true,
	}}
}

// reservedName reports whether a user policy may not take name: the
// built-in prefixes, and the managed names without their prefix.
func reservedName(name string, managed map[string]bool) bool {
	if strings.HasPrefix(name, managedPrefix) || strings.HasPrefix(name, ternPrefix) {
		return true
	}
	return managed[managedPrefix+name]
}

// lookupManaged finds a built-in policy by its name, or by the name
// without "Managed-".
func lookupManaged[P any](byName map[string]P, name string) (P, bool) {
	if p, ok := byName[name]; ok {
		return p, true
	}
	p, ok := byName[managedPrefix+name]
	return p, ok
}
