package config

import (
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
)

// validate reports the problems of one response headers policy; f is its
// field path.
func (rp *ResponseHeadersPolicy) validate(p *problems, f string) {
	checkComment(p, f+".comment", rp.Comment)
	set := make(map[string]string) // lower-case header names the policy adds → field
	if c := rp.CORSConfig; c != nil {
		c.validate(p, f+".cors_config")
		for _, h := range []string{"access-control-allow-origin", "access-control-allow-headers", "access-control-allow-methods",
			"access-control-allow-credentials", "access-control-expose-headers", "access-control-max-age"} {
			set[h] = "cors_config"
		}
	}
	if s := rp.SecurityHeadersConfig; s != nil {
		s.validate(p, f+".security_headers_config", set)
	}
	for i, ch := range rp.CustomHeadersConfig {
		hf := fmt.Sprintf("%s.custom_headers_config[%d]", f, i)
		lower := strings.ToLower(ch.Header)
		switch {
		case ch.Header == "":
			p.add(hf+".header", "is required")
		case !validToken(ch.Header):
			p.add(hf+".header", "%q is not a header name (RFC 9110 §5.1)", ch.Header)
		case disallowedResponseHeader(lower):
			p.add(hf+".header", "%s may not be set by a response headers policy (it is hop-by-hop or managed by the edge)", ch.Header)
		case set[lower] != "":
			p.add(hf+".header", "%s is already set by this policy's %s", ch.Header, set[lower])
		}
		if lower != "" && set[lower] == "" {
			set[lower] = fmt.Sprintf("custom_headers_config[%d]", i)
		}
		checkFieldValue(p, hf+".value", ch.Value)
	}
	removed := make(map[string]int)
	for i, h := range rp.RemoveHeadersConfig {
		hf := fmt.Sprintf("%s.remove_headers_config[%d]", f, i)
		lower := strings.ToLower(h)
		switch {
		case !validToken(h):
			p.add(hf, "%q is not a header name (RFC 9110 §5.1)", h)
		case disallowedResponseHeader(lower):
			p.add(hf, "%s may not be removed by a response headers policy (it is hop-by-hop or managed by the edge)", h)
		default:
			if j, dup := removed[lower]; dup {
				p.add(hf, "%s is also remove_headers_config[%d] (header names are case-insensitive)", h, j)
			}
			removed[lower] = i
		}
	}
	if st := rp.ServerTimingHeadersConfig; st != nil {
		sf := f + ".server_timing_headers_config"
		switch r := st.SamplingRate; {
		case r == nil:
			if st.Enabled {
				p.add(sf+".sampling_rate", "is required when enabled (a percentage, 0 to 100)")
			}
		case *r < 0 || *r > 100 || math.IsNaN(*r):
			p.add(sf+".sampling_rate", "%v is not a percentage between 0 and 100", *r)
		case math.Abs(*r*1e4-math.Round(*r*1e4)) > 1e-6:
			p.add(sf+".sampling_rate", "%v has more than four decimal places", *r)
		}
	}
}

// corsMethods are the values access_control_allow_methods takes.
var corsMethods = []string{"GET", "DELETE", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "ALL"}

func (c *CORSConfig) validate(p *problems, f string) {
	if len(c.AccessControlAllowOrigins) == 0 {
		p.add(f+".access_control_allow_origins", "at least one origin is required (\"*\" for any)")
	}
	for i, o := range c.AccessControlAllowOrigins {
		of := fmt.Sprintf("%s.access_control_allow_origins[%d]", f, i)
		if o == "*" {
			if c.AccessControlAllowCredentials {
				p.add(of, "\"*\" may not be combined with access_control_allow_credentials (browsers refuse credentials for any origin); list the origins")
			}
			continue
		}
		if problem := checkCORSOrigin(o); problem != "" {
			p.add(of, "%q %s", o, problem)
		} else if slices.Contains(c.AccessControlAllowOrigins[:i], o) {
			p.add(of, "%q is listed twice", o)
		}
	}
	checkHeaderList(p, f+".access_control_allow_headers", c.AccessControlAllowHeaders)
	checkHeaderList(p, f+".access_control_expose_headers", c.AccessControlExposeHeaders)
	for i, m := range c.AccessControlAllowMethods {
		mf := fmt.Sprintf("%s.access_control_allow_methods[%d]", f, i)
		switch {
		case !slices.Contains(corsMethods, m):
			p.add(mf, "%q is not one of %s (upper case)", m, strings.Join(corsMethods, ", "))
		case slices.Contains(c.AccessControlAllowMethods[:i], m):
			p.add(mf, "%s is listed twice", m)
		case m == "ALL" && len(c.AccessControlAllowMethods) > 1:
			p.add(mf, "ALL stands for every method and must be the only entry")
		}
	}
	if a := c.AccessControlMaxAgeSec; a != nil && *a < 0 {
		p.add(f+".access_control_max_age_sec", "%d is negative", *a)
	}
}

// checkCORSOrigin returns what is wrong with an allowed origin other than
// "*", or "": "scheme://host[:port]" or "host[:port]", the host possibly
// starting with "*." (CloudFront allows the wildcard only as the leftmost
// label).
func checkCORSOrigin(o string) string {
	rest := o
	if scheme, after, ok := strings.Cut(o, "://"); ok {
		if scheme != "http" && scheme != "https" {
			return "is not an origin: the scheme must be http or https"
		}
		rest = after
	}
	host := rest
	if h, port, err := net.SplitHostPort(rest); err == nil {
		host = h
		if n := len(port); n == 0 || n > 5 || strings.Trim(port, "0123456789") != "" {
			return "is not an origin: bad port"
		}
	} else if len(rest) > 2 && rest[0] == '[' && rest[len(rest)-1] == ']' {
		host = rest[1 : len(rest)-1]
	}
	// An IPv6 address is written in brackets, as browsers send it in
	// Origin ("http://[::1]:3000"), and only an address may be.
	if bracketed := strings.HasPrefix(rest, "["); bracketed || strings.Contains(host, ":") {
		if ip := net.ParseIP(host); !bracketed || ip == nil || ip.To4() != nil {
			return "is not an origin: an IPv6 address goes in brackets (\"http://[::1]:3000\")"
		}
		return ""
	}
	host = strings.TrimPrefix(host, "*.")
	if strings.Contains(host, "*") {
		return "is not an origin: \"*\" is allowed only as the leftmost label (\"https://*.example.com\")"
	}
	if net.ParseIP(host) == nil && (!validHostname(host) || strings.HasSuffix(host, ".")) {
		return "is not an origin (\"https://www.example.com\", \"https://*.example.com\" or \"*\")"
	}
	return ""
}

func checkHeaderList(p *problems, f string, names []string) {
	for i, n := range names {
		nf := fmt.Sprintf("%s[%d]", f, i)
		switch {
		case n == "*":
		case !validToken(n):
			p.add(nf, "%q is not a header name (RFC 9110 §5.1) nor \"*\"", n)
		case slices.ContainsFunc(names[:i], func(m string) bool { return strings.EqualFold(m, n) }):
			p.add(nf, "%s is listed twice", n)
		}
	}
}

// referrerPolicies are the Referrer-Policy values (W3C Referrer Policy §3).
var referrerPolicies = []string{"no-referrer", "no-referrer-when-downgrade", "origin", "origin-when-cross-origin",
	"same-origin", "strict-origin", "strict-origin-when-cross-origin", "unsafe-url"}

// maxCSPLength is CloudFront's limit on Content-Security-Policy.
const maxCSPLength = 1783

func (s *SecurityHeadersConfig) validate(p *problems, f string, set map[string]string) {
	mark := func(h, field string) { set[h] = "security_headers_config." + field }
	if h := s.StrictTransportSecurity; h != nil {
		hf := f + ".strict_transport_security.access_control_max_age_sec"
		if h.AccessControlMaxAgeSec == nil {
			p.add(hf, "is required (the max-age directive, in seconds)")
		} else if *h.AccessControlMaxAgeSec < 0 {
			p.add(hf, "%d is negative", *h.AccessControlMaxAgeSec)
		}
		mark("strict-transport-security", "strict_transport_security")
	}
	if s.ContentTypeOptions != nil {
		mark("x-content-type-options", "content_type_options")
	}
	if h := s.FrameOptions; h != nil {
		checkWord(p, f+".frame_options.frame_option", h.FrameOption, "DENY", "SAMEORIGIN")
		mark("x-frame-options", "frame_options")
	}
	if h := s.ReferrerPolicy; h != nil {
		checkWord(p, f+".referrer_policy.referrer_policy", h.ReferrerPolicy, referrerPolicies...)
		mark("referrer-policy", "referrer_policy")
	}
	if h := s.XSSProtection; h != nil {
		xf := f + ".xss_protection"
		switch {
		case h.Protection == nil:
			p.add(xf+".protection", "is required (true for \"1\", false for \"0\")")
		case !*h.Protection && (h.ModeBlock || h.ReportURI != ""):
			p.add(xf+".protection", "is false (\"0\"): mode_block and report_uri need it true")
		}
		if h.ModeBlock && h.ReportURI != "" {
			p.add(xf+".report_uri", "may not be combined with mode_block")
		}
		if u := h.ReportURI; u != "" && (!printableASCII(u) || strings.ContainsAny(u, " ;,")) {
			p.add(xf+".report_uri", "%q is not a URI (printable ASCII without spaces, \";\" or \",\")", u)
		}
		mark("x-xss-protection", "xss_protection")
	}
	if h := s.ContentSecurityPolicy; h != nil {
		cf := f + ".content_security_policy.content_security_policy"
		switch v := h.ContentSecurityPolicy; {
		case strings.TrimSpace(v) == "":
			p.add(cf, "is required")
		case len(v) > maxCSPLength:
			p.add(cf, "is %d characters long; at most %d are allowed", len(v), maxCSPLength)
		default:
			checkFieldValue(p, cf, v)
		}
		mark("content-security-policy", "content_security_policy")
	}
}

// checkFieldValue refuses a header value with a control character other
// than HTAB (RFC 9110 §5.5): CR and LF would split the response head, and
// net/http's HTTP/2 server leaves a field with any of them out of the
// response while HTTP/1.1 sends it, so the policy would differ by
// protocol.
func checkFieldValue(p *problems, f, v string) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			switch c {
			case '\r', '\n', 0:
				p.add(f, "contains CR, LF or NUL, control characters not allowed in a header value (RFC 9110 §5.5)")
			default:
				p.add(f, "contains the control character %q at byte %d; header values may not (RFC 9110 §5.5)", c, i)
			}
			return
		}
	}
}

// disallowedResponseHeader reports whether a lower-case header name may
// not be added or removed by a response headers policy: CloudFront's list
// ("Headers that you can't remove"), with Tern's own headers (X-Tern-*)
// where CloudFront has X-Amz-Cf-*.
func disallowedResponseHeader(lower string) bool {
	switch lower {
	case "connection", "content-encoding", "content-length", "expect", "host",
		"keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
		"trailer", "transfer-encoding", "upgrade", "via", "warning",
		"x-cache", "x-forwarded-proto", "x-real-ip":
		return true
	}
	for _, prefix := range []string{"x-accel-", "x-amz-cf-", "x-amzn-", "x-edge-", "x-tern-"} {
		if strings.HasPrefix(lower, prefix) {
			return true
		}
	}
	return false
}
