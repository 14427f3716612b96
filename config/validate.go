package config

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// FieldError is one problem in a configuration: the path of the field, as
// written in YAML with list indices, and what is wrong with its value.
type FieldError struct {
	// Field is the path, e.g. "distributions[0].origins[1].http_port".
	Field string
	// Problem says what is wrong, e.g. "70000 is not a port (1-65535)".
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// FieldErrors returns every *FieldError in err's tree (as returned by
// Validate, Provision, Parse or Load), in order.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *FieldError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// problems collects FieldErrors in the order they are found.
type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

// Validate reports every problem in c at once, as errors.Join of
// *FieldError (see FieldErrors): unknown references, names used twice and
// impossible values. It expects defaults applied (ApplyDefaults), as Parse
// and Provision do, and does not change c.
func (c *Config) Validate() error {
	var p problems
	c.validateEdge(&p)
	c.validateTLS(&p)
	if c.Router != nil {
		c.Router.validate(&p)
	}

	managedCache := make(map[string]bool)
	for _, mp := range ManagedCachePolicies() {
		managedCache[mp.Name] = true
	}
	managedOrigin := make(map[string]bool)
	for _, mp := range ManagedOriginRequestPolicies() {
		managedOrigin[mp.Name] = true
	}
	cacheNames := make(map[string]bool)
	for i, cp := range c.CachePolicies {
		f := fmt.Sprintf("cache_policies[%d]", i)
		if cp == nil {
			p.add(f, "is empty")
			continue
		}
		switch {
		case cp.Name == "":
			p.add(f+".name", "is required")
		case cacheNames[cp.Name]:
			p.add(f+".name", "%q is already the name of another cache policy", cp.Name)
		default:
			checkPolicyName(&p, f+".name", cp.Name, managedCache)
			cacheNames[cp.Name] = true
		}
		cp.validate(&p, f)
	}
	originNames := make(map[string]bool)
	for i, op := range c.OriginRequestPolicies {
		f := fmt.Sprintf("origin_request_policies[%d]", i)
		if op == nil {
			p.add(f, "is empty")
			continue
		}
		switch {
		case op.Name == "":
			p.add(f+".name", "is required")
		case originNames[op.Name]:
			p.add(f+".name", "%q is already the name of another origin request policy", op.Name)
		default:
			checkPolicyName(&p, f+".name", op.Name, managedOrigin)
			originNames[op.Name] = true
		}
		op.validate(&p, f)
	}
	managedHeaders := make(map[string]bool)
	for _, mp := range ManagedResponseHeadersPolicies() {
		managedHeaders[mp.Name] = true
		managedHeaders[mp.ID] = true
	}
	headersNames := make(map[string]bool)
	for i, hp := range c.ResponseHeadersPolicies {
		f := fmt.Sprintf("response_headers_policies[%d]", i)
		if hp == nil {
			p.add(f, "is empty")
			continue
		}
		switch {
		case hp.Name == "":
			p.add(f+".name", "is required")
		case headersNames[hp.Name]:
			p.add(f+".name", "%q is already the name of another response headers policy", hp.Name)
		case managedHeaders[hp.Name]:
			p.add(f+".name", "%q is the id of a managed response headers policy", hp.Name)
		default:
			checkPolicyName(&p, f+".name", hp.Name, managedHeaders)
			headersNames[hp.Name] = true
		}
		hp.validate(&p, f)
	}
	names := policyNames{cacheNames, managedCache, originNames, managedOrigin, headersNames, managedHeaders}

	distIDs := make(map[string]int)
	aliasOwner := make(map[string]int)
	catchAll := -1
	for i, d := range c.Distributions {
		f := fmt.Sprintf("distributions[%d]", i)
		if d == nil {
			p.add(f, "is empty")
			continue
		}
		if j, dup := distIDs[d.ID]; dup && d.ID != "" {
			p.add(f+".id", "%q is already the id of distributions[%d]", d.ID, j)
		} else {
			distIDs[d.ID] = i
		}
		if d.CatchAll() {
			if catchAll >= 0 {
				p.add(f+".aliases", "distributions[%d] already answers any host (no aliases, or \"*\"); only one distribution may", catchAll)
			} else {
				catchAll = i
			}
		}
		for k, a := range d.Aliases {
			af := fmt.Sprintf("%s.aliases[%d]", f, k)
			if a == "*" {
				if len(d.Aliases) > 1 {
					p.add(af, "\"*\" answers any host and must be the only alias")
				}
				continue
			}
			if !validAlias(a) {
				p.add(af, "%q is not a host name (letters, digits, \"-\"; may start with \"*.\")", a)
				continue
			}
			if j, dup := aliasOwner[a]; dup {
				if j == i {
					p.add(af, "%q is listed twice", a)
				} else {
					p.add(af, "%q is already an alias of distributions[%d]", a, j)
				}
				continue
			}
			aliasOwner[a] = i
		}
		d.validate(&p, f, names)
	}
	c.validateGeneratedNames(&p)

	if len(p) == 0 {
		return nil
	}
	return errors.Join(p...)
}

func (c *Config) validateEdge(p *problems) {
	if problem := checkListen(c.Edge.Listen); problem != "" {
		p.add("edge.listen", "%s", problem)
	}
	if !validID(c.Edge.NodeID) {
		p.add("edge.node_id", "%q %s", c.Edge.NodeID, idRule)
	}
	if !validID(c.Edge.POP) {
		p.add("edge.pop", "%q %s", c.Edge.POP, idRule)
	}
	checkWord(p, "edge.role", c.Edge.Role, RoleEdge, RoleShield)
	for i, tp := range c.Edge.TrustedProxies {
		if _, ok := parseProxy(tp); !ok {
			p.add(fmt.Sprintf("edge.trusted_proxies[%d]", i), "%q is not a CIDR prefix (\"10.0.0.0/8\") nor an IP address", tp)
		}
	}
	if h := c.Edge.ClientIPHeader; !validToken(h) {
		p.add("edge.client_ip_header", "%q is not a header name (RFC 9110 §5.1)", h)
	} else if strings.EqualFold(h, "Forwarded") {
		p.add("edge.client_ip_header", "Forwarded (RFC 7239) is not supported: name a header that lists addresses, such as X-Forwarded-For")
	}
	if a := c.Edge.TierAddress; a != "" {
		if problem := checkListen(a); problem != "" {
			p.add("edge.tier_address", "%s", problem)
		} else if host, port, _ := net.SplitHostPort(a); unspecifiedHost(host) || port == "0" {
			p.add("edge.tier_address", "%q is not an address other nodes can connect to (name a host and a port other than 0)", a)
		}
	}
	mem, maxObj := c.Edge.Cache.Memory, c.Edge.Cache.MaxObjectSize
	if mem <= 0 {
		p.add("edge.cache.memory", "%s is not a positive size", mem)
	}
	if maxObj <= 0 {
		p.add("edge.cache.max_object_size", "%s is not a positive size", maxObj)
	} else if mem > 0 && maxObj > mem {
		p.add("edge.cache.max_object_size", "%s is larger than edge.cache.memory (%s)", maxObj, mem)
	}
	seenDisk := map[string]int{}
	for i, d := range c.Edge.Cache.Disk {
		f := fmt.Sprintf("edge.cache.disk[%d]", i)
		if d.Path == "" {
			p.add(f+".path", "is required")
		} else if j, dup := seenDisk[filepath.Clean(d.Path)]; dup {
			p.add(f+".path", "%q is also edge.cache.disk[%d].path: each disk tier needs its own directory", d.Path, j)
		} else {
			seenDisk[filepath.Clean(d.Path)] = i
		}
		if d.Size <= 0 {
			p.add(f+".size", "%s is not a positive size", d.Size)
		}
	}
	if len(c.Edge.Cache.Disk) > 0 {
		if ss := c.Edge.Cache.SliceSize; ss < 64*KiB || ss > 64*MiB {
			p.add("edge.cache.slice_size", "%s is not between 64KiB and 64MiB", ss)
		}
		if c.Edge.Cache.DiskMaxObjectSize <= 0 {
			p.add("edge.cache.disk_max_object_size", "%s is not a positive size", c.Edge.Cache.DiskMaxObjectSize)
		}
	}
	if strings.ContainsAny(c.Edge.AccessLog, "\x00\r\n") {
		p.add("edge.access_log", "%q is not a file path", c.Edge.AccessLog)
	}
	if c.Admin.Enabled() {
		if problem := checkListen(c.Admin.Listen); problem != "" {
			p.add("admin.listen", "%s (or %q to turn the admin server off)", problem, AdminOff)
		} else if c.Admin.Listen == c.Edge.Listen && !strings.HasSuffix(c.Admin.Listen, ":0") {
			p.add("admin.listen", "%q is also edge.listen", c.Admin.Listen)
		}
	}
}

type policyNames struct {
	cache, managedCache, origin, managedOrigin, headers, managedHeaders map[string]bool
}

func (d *Distribution) validate(p *problems, f string, names policyNames) {
	if d.ID == "" {
		p.add(f+".id", "is required")
	} else if !validID(d.ID) {
		p.add(f+".id", "%q %s", d.ID, idRule)
	}
	checkComment(p, f+".comment", d.Comment)
	if o := d.DefaultRootObject; o != "" {
		switch {
		case strings.HasPrefix(o, "/"):
			p.add(f+".default_root_object", "%q must not start with \"/\" (write %q)", o, strings.TrimLeft(o, "/"))
		case len(o) > 255 || !printableASCII(o) || strings.ContainsAny(o, " ?#"):
			p.add(f+".default_root_object", "%q is not an object name (printable ASCII without spaces, \"?\" or \"#\", at most 255 characters)", o)
		}
	}

	targets := make(map[string]bool) // origin and group ids
	if len(d.Origins) == 0 {
		p.add(f+".origins", "at least one origin is required")
	}
	for i, o := range d.Origins {
		of := fmt.Sprintf("%s.origins[%d]", f, i)
		if o == nil {
			p.add(of, "is empty")
			continue
		}
		switch {
		case o.ID == "":
			p.add(of+".id", "is required")
		case !validID(o.ID):
			p.add(of+".id", "%q %s", o.ID, idRule)
		case targets[o.ID]:
			p.add(of+".id", "%q is already the id of another origin", o.ID)
		}
		targets[o.ID] = true
		o.validate(p, of)
	}
	for i, g := range d.OriginGroups {
		gf := fmt.Sprintf("%s.origin_groups[%d]", f, i)
		if g == nil {
			p.add(gf, "is empty")
			continue
		}
		switch {
		case g.ID == "":
			p.add(gf+".id", "is required")
		case !validID(g.ID):
			p.add(gf+".id", "%q %s", g.ID, idRule)
		case targets[g.ID]:
			p.add(gf+".id", "%q is already the id of an origin or origin group", g.ID)
		}
		targets[g.ID] = true
		if len(g.Members) != 2 {
			p.add(gf+".members", "has %d origin ids; an origin group needs exactly 2 (primary, secondary)", len(g.Members))
		}
		for k, m := range g.Members {
			if _, ok := d.Origin(m); !ok {
				if _, isGroup := d.OriginGroup(m); isGroup {
					p.add(fmt.Sprintf("%s.members[%d]", gf, k), "%q is an origin group; members must be origins", m)
				} else {
					p.add(fmt.Sprintf("%s.members[%d]", gf, k), "%q is not an origin of this distribution", m)
				}
			}
		}
		if len(g.Members) == 2 && g.Members[0] == g.Members[1] {
			p.add(gf+".members", "primary and secondary are both %q", g.Members[0])
		}
		codes := g.FailoverCriteria.StatusCodes
		if len(codes) == 0 {
			p.add(gf+".failover_criteria.status_codes", "at least one status is required (%s)", joinInts(failoverCodes))
		}
		for k, code := range codes {
			cf := fmt.Sprintf("%s.failover_criteria.status_codes[%d]", gf, k)
			if !slices.Contains(failoverCodes, code) {
				p.add(cf, "%d is not a failover status (%s)", code, joinInts(failoverCodes))
			} else if slices.Contains(codes[:k], code) {
				p.add(cf, "%d is listed twice", code)
			}
		}
	}

	if d.DefaultCacheBehavior == nil {
		p.add(f+".default_cache_behavior", "is required")
	} else {
		bf := f + ".default_cache_behavior"
		if d.DefaultCacheBehavior.PathPattern != "" {
			p.add(bf+".path_pattern", "is not allowed on the default behavior (it matches every path no other behavior matches)")
		}
		d.DefaultCacheBehavior.validate(p, bf, d, names)
	}
	patterns := make(map[string]int)
	for i, b := range d.CacheBehaviors {
		bf := fmt.Sprintf("%s.cache_behaviors[%d]", f, i)
		if b == nil {
			p.add(bf, "is empty")
			continue
		}
		pat := b.PathPattern
		switch {
		case pat == "":
			p.add(bf+".path_pattern", "is required")
		case len(pat) > 255:
			p.add(bf+".path_pattern", "is longer than 255 characters")
		case !printableASCII(pat) || strings.ContainsAny(pat, " #"):
			p.add(bf+".path_pattern", "%q is not a path pattern (printable ASCII without spaces or \"#\"; percent-encode other characters)", pat)
		default:
			if j, dup := patterns[pat]; dup {
				p.add(bf+".path_pattern", "%q is already the pattern of cache_behaviors[%d]", pat, j)
			} else {
				patterns[pat] = i
			}
		}
		b.validate(p, bf, d, names)
	}

	errorCodes := make(map[int]int)
	for i, e := range d.CustomErrorResponses {
		ef := fmt.Sprintf("%s.custom_error_responses[%d]", f, i)
		if e == nil {
			p.add(ef, "is empty")
			continue
		}
		if !slices.Contains(customErrorCodes, e.ErrorCode) {
			p.add(ef+".error_code", "%d is not one of %s", e.ErrorCode, joinInts(customErrorCodes))
		} else if j, dup := errorCodes[e.ErrorCode]; dup {
			p.add(ef+".error_code", "%d is already handled by custom_error_responses[%d]", e.ErrorCode, j)
		} else {
			errorCodes[e.ErrorCode] = i
		}
		if path := e.ResponsePagePath; path != "" {
			if !strings.HasPrefix(path, "/") || !printableASCII(path) || strings.ContainsAny(path, " #") {
				p.add(ef+".response_page_path", "%q is not a path starting with \"/\"", path)
			}
			if e.ResponseCode == 0 {
				p.add(ef+".response_code", "is required with response_page_path")
			}
		}
		if e.ResponseCode != 0 {
			if e.ResponseCode != 200 && (e.ResponseCode < 400 || e.ResponseCode > 599) {
				p.add(ef+".response_code", "%d is not 200 or a 4xx or 5xx status", e.ResponseCode)
			}
			if e.ResponsePagePath == "" {
				p.add(ef+".response_page_path", "is required with response_code")
			}
		}
		if t := e.ErrorCachingMinTTL; t != nil && *t < 0 {
			p.add(ef+".error_caching_min_ttl", "%d is negative", *t)
		}
	}
}

func (o *Origin) validate(p *problems, f string) {
	dn := o.DomainName
	switch {
	case dn == "":
		p.add(f+".domain_name", "is required")
	case strings.Contains(dn, "://"):
		p.add(f+".domain_name", "%q has a scheme; write the host alone and set protocol_policy", dn)
	case strings.Contains(dn, "/"):
		p.add(f+".domain_name", "%q has a path; write the host alone and set origin_path", dn)
	case net.ParseIP(dn) != nil:
	case hasPort(dn):
		p.add(f+".domain_name", "%q has a port; write the host alone and set http_port or https_port", dn)
	case !validHostname(dn):
		p.add(f+".domain_name", "%q is not a host name or IP address", dn)
	}
	checkPort(p, f+".http_port", o.HTTPPort)
	checkPort(p, f+".https_port", o.HTTPSPort)
	checkWord(p, f+".protocol_policy", o.ProtocolPolicy, OriginHTTPOnly, OriginHTTPSOnly, OriginMatchViewer)
	if op := o.OriginPath; op != "" {
		switch {
		case !strings.HasPrefix(op, "/"):
			p.add(f+".origin_path", "%q must start with \"/\"", op)
		case strings.HasSuffix(op, "/"):
			p.add(f+".origin_path", "%q must not end with \"/\"", op)
		case !printableASCII(op) || strings.ContainsAny(op, " ?#"):
			p.add(f+".origin_path", "%q is not a path (printable ASCII without spaces, \"?\" or \"#\")", op)
		case slices.Contains(strings.Split(op, "/"), ".."):
			p.add(f+".origin_path", "%q must not contain \"..\"", op)
		}
	}
	keys := make([]string, 0, len(o.CustomHeaders))
	for k := range o.CustomHeaders {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	seen := make(map[string]string, len(keys))
	for _, k := range keys {
		hf := f + ".custom_headers." + k
		lk := strings.ToLower(k)
		switch {
		case !validToken(k):
			p.add(hf, "%q is not a header name (RFC 9110 §5.1)", k)
		case disallowedCustomHeader(lk):
			p.add(hf, "%s may not be set as a custom header (it is hop-by-hop or managed by Tern)", k)
		case seen[lk] != "":
			p.add(hf, "%s is also set as %s (header names are case-insensitive)", k, seen[lk])
		}
		seen[lk] = k
		// RFC 9110 §5.5: CR, LF and NUL are not allowed in field values.
		if strings.ContainsAny(o.CustomHeaders[k], "\x00\r\n") {
			p.add(hf, "value contains CR, LF or NUL (RFC 9110 §5.5)")
		}
	}
	if n := o.ConnectionAttempts; n < 1 || n > 3 {
		p.add(f+".connection_attempts", "%d is not 1, 2 or 3", n)
	}
	checkTimeout(p, f+".connection_timeout", o.ConnectionTimeout, 10*time.Second)
	checkTimeout(p, f+".response_timeout", o.ResponseTimeout, 180*time.Second)
	checkTimeout(p, f+".keepalive_timeout", o.KeepaliveTimeout, 180*time.Second)
	o.validateTLS(p, f)
	if sh := o.OriginShield; sh != nil {
		switch {
		case sh.Enabled && sh.Region == "":
			p.add(f+".origin_shield.region", "is required when the shield is enabled (the POP whose shield-role nodes serve as this origin's shield)")
		case sh.Region != "" && !validID(sh.Region):
			p.add(f+".origin_shield.region", "%q %s", sh.Region, idRule)
		}
	}
}

func (b *CacheBehavior) validate(p *problems, f string, d *Distribution, names policyNames) {
	if b.TargetOriginID == "" {
		p.add(f+".target_origin_id", "is required")
	} else if _, ok := d.Origin(b.TargetOriginID); !ok {
		if _, ok := d.OriginGroup(b.TargetOriginID); !ok {
			p.add(f+".target_origin_id", "%q is not an origin or origin group of this distribution", b.TargetOriginID)
		}
	}
	checkWord(p, f+".viewer_protocol_policy", b.ViewerProtocolPolicy, ViewerAllowAll, ViewerRedirectToHTTPS, ViewerHTTPSOnly)
	allowed, okAllowed := methodSet(p, f+".allowed_methods", b.AllowedMethods, allowedMethodSets)
	cached, okCached := methodSet(p, f+".cached_methods", b.CachedMethods, cachedMethodSets)
	if okAllowed && okCached && cached > allowed {
		p.add(f+".cached_methods", "includes OPTIONS, which allowed_methods does not")
	}

	if r := b.CachePolicy; r != nil {
		cf := f + ".cache_policy"
		if r.Inline != nil {
			if n := r.Inline.Name; n != "" {
				if names.cache[n] {
					p.add(cf+".name", "%q is already the name of a cache policy; leave the name out or choose another", n)
				} else {
					checkPolicyName(p, cf+".name", n, names.managedCache)
				}
			}
			r.Inline.validate(p, cf)
		} else if _, managed := lookupManaged(names.managedCache, r.Name); !managed && !names.cache[r.Name] {
			p.add(cf, "%q is not a managed cache policy or one of cache_policies", r.Name)
		}
	}
	if r := b.OriginRequestPolicy; r != nil {
		of := f + ".origin_request_policy"
		if r.Inline != nil {
			if n := r.Inline.Name; n != "" {
				if names.origin[n] {
					p.add(of+".name", "%q is already the name of an origin request policy; leave the name out or choose another", n)
				} else {
					checkPolicyName(p, of+".name", n, names.managedOrigin)
				}
			}
			r.Inline.validate(p, of)
		} else if _, managed := lookupManaged(names.managedOrigin, r.Name); !managed && !names.origin[r.Name] {
			p.add(of, "%q is not a managed origin request policy or one of origin_request_policies", r.Name)
		}
	}
	if r := b.ResponseHeadersPolicy; r != nil {
		hf := f + ".response_headers_policy"
		if r.Inline != nil {
			if n := r.Inline.Name; n != "" {
				if names.headers[n] {
					p.add(hf+".name", "%q is already the name of a response headers policy; leave the name out or choose another", n)
				} else {
					checkPolicyName(p, hf+".name", n, names.managedHeaders)
				}
			}
			r.Inline.validate(p, hf)
		} else if _, managed := lookupManaged(names.managedHeaders, r.Name); !managed && !names.headers[r.Name] {
			p.add(hf, "%q is not a managed response headers policy (by name or id) or one of response_headers_policies", r.Name)
		}
	}
}

func (cp *CachePolicy) validate(p *problems, f string) {
	checkComment(p, f+".comment", cp.Comment)
	if cp.OriginControlled {
		for _, t := range []struct {
			name string
			v    *Duration
		}{{"min_ttl", cp.MinTTL}, {"default_ttl", cp.DefaultTTL}, {"max_ttl", cp.MaxTTL}} {
			if t.v != nil {
				p.add(f+"."+t.name, "must be left out when origin_controlled is true (freshness then comes from the origin, RFC 9111 §4.2)")
			}
		}
	} else if cp.MinTTL != nil && cp.DefaultTTL != nil && cp.MaxTTL != nil {
		lo, def, hi := *cp.MinTTL, *cp.DefaultTTL, *cp.MaxTTL
		for _, t := range []struct {
			name string
			v    Duration
		}{{"min_ttl", lo}, {"default_ttl", def}, {"max_ttl", hi}} {
			if t.v < 0 {
				p.add(f+"."+t.name, "%s is negative", seconds(t.v))
			}
		}
		if lo > def {
			p.add(f+".default_ttl", "%s is less than min_ttl (%s)", seconds(def), seconds(lo))
		}
		if def > hi {
			p.add(f+".max_ttl", "%s is less than default_ttl (%s)", seconds(hi), seconds(def))
		}
	} else {
		p.add(f, "min_ttl, default_ttl and max_ttl are unset (defaults not applied)")
	}
	checkKeys(p, f+".headers", cp.Headers, headerNames, SelectNone, SelectWhitelist)
	if slices.Contains(cp.Headers.Names, "accept-encoding") {
		p.add(f+".headers.names", "accept-encoding may not be listed; set enable_accept_encoding_gzip, enable_accept_encoding_brotli or enable_accept_encoding_zstd")
	}
	if slices.Contains(cp.Headers.Names, "cloudfront-viewer-address") {
		// As in CloudFront: it holds the viewer's port, so a key with it
		// would never be hit twice. An origin request policy may send it.
		p.add(f+".headers.names", "cloudfront-viewer-address may not be in a cache key (it differs on every connection); name it in an origin request policy")
	}
	checkKeys(p, f+".cookies", cp.Cookies, cookieNames, SelectNone, SelectWhitelist, SelectAllExcept, SelectAll)
	checkKeys(p, f+".query_strings", cp.QueryStrings, queryNames, SelectNone, SelectWhitelist, SelectAllExcept, SelectAll)
}

func (op *OriginRequestPolicy) validate(p *problems, f string) {
	checkComment(p, f+".comment", op.Comment)
	checkKeys(p, f+".headers", op.Headers, headerNames, SelectNone, SelectWhitelist, SelectAllViewer, SelectAllViewerAndWhitelistCloudFront, SelectAllExcept)
	if op.Headers.Behavior == SelectAllViewerAndWhitelistCloudFront {
		for i, n := range op.Headers.Names {
			if !strings.HasPrefix(n, "cloudfront-") {
				p.add(fmt.Sprintf("%s.headers.names[%d]", f, i), "%q is not a CloudFront-* header (allViewerAndWhitelistCloudFront already sends every viewer header)", n)
			}
		}
	}
	checkKeys(p, f+".cookies", op.Cookies, cookieNames, SelectNone, SelectWhitelist, SelectAll, SelectAllExcept)
	checkKeys(p, f+".query_strings", op.QueryStrings, queryNames, SelectNone, SelectWhitelist, SelectAll, SelectAllExcept)
}

type nameKind int

const (
	headerNames nameKind = iota
	cookieNames
	queryNames
)

func checkKeys(p *problems, f string, k KeySelection, kind nameKind, behaviors ...string) {
	if !slices.Contains(behaviors, k.Behavior) {
		p.add(f+".behavior", "%q is not one of %s", k.Behavior, strings.Join(behaviors, ", "))
		return
	}
	needsNames := k.Behavior == SelectWhitelist || k.Behavior == SelectAllExcept || k.Behavior == SelectAllViewerAndWhitelistCloudFront
	if needsNames && len(k.Names) == 0 {
		p.add(f+".names", "at least one name is required when behavior is %s", k.Behavior)
	}
	if !needsNames && len(k.Names) > 0 {
		p.add(f+".names", "names are not allowed when behavior is %s", k.Behavior)
		return
	}
	for i, n := range k.Names {
		nf := fmt.Sprintf("%s.names[%d]", f, i)
		var ok bool
		switch kind {
		case headerNames, cookieNames:
			// Header names (RFC 9110 §5.1) and cookie names (RFC 6265
			// §4.1.1) are both tokens.
			ok = validToken(n)
		case queryNames:
			ok = n != "" && printableASCII(n) && !strings.ContainsAny(n, " &=#")
		}
		if !ok {
			p.add(nf, "%q is not a valid name", n)
		} else if slices.Contains(k.Names[:i], n) {
			p.add(nf, "%q is listed twice", n)
		}
	}
}

var (
	allowedMethodSets = [][]string{
		{"GET", "HEAD"},
		{"GET", "HEAD", "OPTIONS"},
		{"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"},
	}
	cachedMethodSets = allowedMethodSets[:2]
	// CloudFront's origin group failover statuses.
	failoverCodes = []int{400, 403, 404, 416, 500, 502, 503, 504}
	// CloudFront's custom error response statuses.
	customErrorCodes = []int{400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504}
)

// methodSet reports which of sets (by index) methods is, in any order.
func methodSet(p *problems, f string, methods []string, sets [][]string) (int, bool) {
	for i, m := range methods {
		if slices.Contains(methods[:i], m) {
			p.add(fmt.Sprintf("%s[%d]", f, i), "%s is listed twice", m)
			return 0, false
		}
	}
	for i, set := range sets {
		if len(set) == len(methods) && !slices.ContainsFunc(methods, func(m string) bool { return !slices.Contains(set, m) }) {
			return i, true
		}
	}
	choices := make([]string, len(sets))
	for i, s := range sets {
		choices[i] = "[" + strings.Join(s, ", ") + "]"
	}
	p.add(f, "[%s] is not one of %s (method names are upper case)", strings.Join(methods, ", "), strings.Join(choices, ", "))
	return 0, false
}

const idRule = "is not an id (letters, digits, \".\", \"-\", \"_\", starting with a letter or digit, not ending with \".\" nor holding \"..\", at most 128 characters)"

// validID: ids also end NATS subjects and KV keys ("distribution.<id>",
// heartbeats by POP and node), whose dot-separated tokens may not be empty.
func validID(s string) bool {
	if s == "" || len(s) > 128 || !isAlnum(s[0]) || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func checkPolicyName(p *problems, f, name string, managed map[string]bool) {
	if len(name) > 128 || strings.IndexFunc(name, func(r rune) bool {
		return !(r < utf8.RuneSelf && (isAlnum(byte(r)) || r == '-' || r == '_'))
	}) >= 0 {
		p.add(f, "%q is not a policy name (letters, digits, \"-\", \"_\", at most 128 characters)", name)
		return
	}
	if reservedName(name, managed) {
		p.add(f, "%q is reserved for built-in policies (names starting with %q or %q, and the managed names)", name, managedPrefix, ternPrefix)
	}
}

func checkComment(p *problems, f, s string) {
	if utf8.RuneCountInString(s) > 128 {
		p.add(f, "is longer than 128 characters")
	}
}

func checkPort(p *problems, f string, port int) {
	if port < 1 || port > 65535 {
		p.add(f, "%d is not a port (1-65535)", port)
	}
}

func checkWord(p *problems, f, v string, words ...string) {
	if !slices.Contains(words, v) {
		p.add(f, "%q is not one of %s", v, strings.Join(words, ", "))
	}
}

func checkTimeout(p *problems, f string, d Duration, limit time.Duration) {
	if d <= 0 || time.Duration(d) > limit {
		p.add(f, "%s is not above 0 and at most %s", seconds(d), seconds(Duration(limit)))
	}
}

// checkListen returns what is wrong with a host:port listen address, or "".
func checkListen(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("%q: %q is not a port (0-65535)", addr, port)
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		return fmt.Sprintf("%q: %q is not a host name or IP address", addr, host)
	}
	return ""
}

func hasPort(s string) bool {
	_, _, err := net.SplitHostPort(s)
	return err == nil
}

// validHostname accepts DNS names (RFC 1123 §2.1), also with "_", which
// private networks use for service names.
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlnum(c) && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

func validAlias(a string) bool {
	return validHostname(strings.TrimPrefix(a, "*.")) && !strings.HasSuffix(a, ".")
}

// validToken reports whether s is an RFC 9110 §5.6.2 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// disallowedCustomHeader reports whether a lower-case header name may not
// be an origin custom header: CloudFront's list ("Custom headers that
// CloudFront can't add to origin requests"), plus the remaining hop-by-hop
// fields of RFC 9110 §7.6.1 and X-Forwarded-For, which Tern sets itself.
func disallowedCustomHeader(lower string) bool {
	switch lower {
	case "cache-control", "connection", "content-length", "cookie", "host",
		"if-match", "if-modified-since", "if-none-match", "if-range",
		"if-unmodified-since", "max-forwards", "pragma", "proxy-authorization",
		"proxy-connection", "range", "request-range", "te", "trailer",
		"transfer-encoding", "upgrade", "via", "x-real-ip",
		"keep-alive", "proxy-authenticate", "x-forwarded-for":
		return true
	}
	return strings.HasPrefix(lower, "x-amz-") || strings.HasPrefix(lower, "x-edge-")
}

// seconds formats d as CloudFront users write it: whole seconds as a
// number, anything finer as a duration.
func seconds(d Duration) string {
	if time.Duration(d)%time.Second == 0 {
		return strconv.FormatInt(int64(time.Duration(d)/time.Second), 10)
	}
	return d.String()
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}
