package edge

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/terncdn/tern/geo"
)

// This file is the viewer phase of the pipeline: who sent the request (its
// address, behind trusted proxies too) and CloudFront's viewer headers,
// which the edge adds to the request when a behavior's cache policy or
// origin request policy names them ("Add CloudFront request headers",
// CloudFront Developer Guide).
//
// The headers are set on the viewer's request itself, before the cache
// lookup, so that a cache key or a Vary that names one sees the edge's
// value, and forwarding sends it as it sends a viewer header. Only the
// edge writes them: a viewer's own fields of the names the policies list
// are replaced (ServeHTTP), and every other CloudFront-* field is dropped
// from what goes upstream (keepEdgeCloudFront). A request from another
// Tern node (a peer or a shield, authenticated by its Tern-Tier header)
// carries the headers the viewer's edge computed, and keeps them.

// viewerHeader is one CloudFront viewer header the edge can add.
type viewerHeader uint32

const (
	vhCountry viewerHeader = 1 << iota
	vhCountryName
	vhCountryRegion
	vhCountryRegionName
	vhCity
	vhPostalCode
	vhTimeZone
	vhLatitude
	vhLongitude
	vhASN
	vhAddress
	vhHTTPVersion
	vhForwardedProto
	vhTLS
	vhMobile
	vhTablet
	vhDesktop
	vhSmartTV
	vhIOS
	vhAndroid

	vhLocation = vhCountry | vhCountryName | vhCountryRegion | vhCountryRegionName | vhCity |
		vhPostalCode | vhTimeZone | vhLatitude | vhLongitude | vhASN
	vhDevice = vhMobile | vhTablet | vhDesktop | vhSmartTV | vhIOS | vhAndroid
)

// viewerHeaderNames are the canonical header names (textproto), by bit.
// CloudFront-Viewer-Metro-Code is not among them: the geo databases Tern
// reads give no metro code, so a policy that names it gets none.
var viewerHeaderNames = map[viewerHeader]string{
	vhCountry:           "Cloudfront-Viewer-Country",
	vhCountryName:       "Cloudfront-Viewer-Country-Name",
	vhCountryRegion:     "Cloudfront-Viewer-Country-Region",
	vhCountryRegionName: "Cloudfront-Viewer-Country-Region-Name",
	vhCity:              "Cloudfront-Viewer-City",
	vhPostalCode:        "Cloudfront-Viewer-Postal-Code",
	vhTimeZone:          "Cloudfront-Viewer-Time-Zone",
	vhLatitude:          "Cloudfront-Viewer-Latitude",
	vhLongitude:         "Cloudfront-Viewer-Longitude",
	vhASN:               "Cloudfront-Viewer-Asn",
	vhAddress:           "Cloudfront-Viewer-Address",
	vhHTTPVersion:       "Cloudfront-Viewer-Http-Version",
	vhForwardedProto:    "Cloudfront-Forwarded-Proto",
	vhTLS:               "Cloudfront-Viewer-Tls",
	vhMobile:            "Cloudfront-Is-Mobile-Viewer",
	vhTablet:            "Cloudfront-Is-Tablet-Viewer",
	vhDesktop:           "Cloudfront-Is-Desktop-Viewer",
	vhSmartTV:           "Cloudfront-Is-Smarttv-Viewer",
	vhIOS:               "Cloudfront-Is-Ios-Viewer",
	vhAndroid:           "Cloudfront-Is-Android-Viewer",
}

// viewerHeaderBits maps lower-case names (as policies store them) to bits.
var viewerHeaderBits = func() map[string]viewerHeader {
	m := make(map[string]viewerHeader, len(viewerHeaderNames))
	for bit, name := range viewerHeaderNames {
		m[strings.ToLower(name)] = bit
	}
	return m
}()

// viewerHeadersNamed returns the viewer headers among names (any case).
func viewerHeadersNamed(names []string) viewerHeader {
	var set viewerHeader
	for _, n := range names {
		set |= viewerHeaderBits[strings.ToLower(n)]
	}
	return set
}

// isCloudFrontField reports whether a header name is CloudFront-*.
func isCloudFrontField(name string) bool {
	return len(name) > 11 && (name[0] == 'C' || name[0] == 'c') && strings.EqualFold(name[:11], "CloudFront-")
}

// appendCloudFrontNames appends the CloudFront-* names among names to
// dst, in canonical spelling, each once.
func appendCloudFrontNames(dst, names []string) []string {
	for _, n := range names {
		if n = http.CanonicalHeaderKey(n); isCloudFrontField(n) && !slices.Contains(dst, n) {
			dst = append(dst, n)
		}
	}
	return dst
}

// keepEdgeCloudFront removes from h, a request to the origin or to another
// Tern node, every CloudFront-* field but those b's policies name, which
// the edge wrote (or, on a request from another Tern node, trusted): a
// viewer cannot send CloudFront-* headers through, whatever the
// forwarding (allExcept forwards every viewer header it does not name).
// It runs on misses only; hits never build such a request.
func keepEdgeCloudFront(h http.Header, b *behavior) {
	for k := range h {
		if isCloudFrontField(k) && !slices.Contains(b.cloudFrontNames, k) {
			delete(h, k)
		}
	}
}

// viewer is who sent a request, as the edge determined it.
type viewer struct {
	ip   string // the address as text, as the access log's c-ip
	port int    // the source port; 0 when a proxy did not say
	// forwardedFor, when not "", is the X-Forwarded-For to send on in
	// place of the usual (the request's, then ip): set when a trusted
	// proxy named the viewer.
	forwardedFor string
	done         bool
}

// viewerOf determines (once per request) the viewer's address: the
// connection's, or, when the connection is from a trusted proxy, the one
// the proxy names in the client IP header (config.Edge.TrustedProxies
// documents the rule).
func (s *Server) viewerOf(x *exchange) *viewer {
	v := &x.viewer
	if v.done {
		return v
	}
	v.done = true
	r := x.r
	host, port, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	v.ip = host
	v.port, _ = strconv.Atoi(port)
	rt := s.routes.Load()
	if len(rt.trustedProxies) == 0 {
		return v
	}
	conn, err := netip.ParseAddr(host)
	if err != nil || !rt.trusted(conn.Unmap()) {
		return v
	}
	lines := r.Header[rt.clientIPHeader]
	if len(lines) == 0 {
		return v
	}
	entries := strings.Split(strings.Join(lines, ","), ",")
	for i := len(entries) - 1; i >= 0; i-- {
		e := strings.TrimSpace(entries[i])
		ap, ok := parseForwardedAddr(e)
		if !ok {
			return v // not an address: the nearest party that is one is the connection
		}
		if i > 0 && rt.trusted(ap.Addr()) {
			continue
		}
		v.ip, v.port = ap.Addr().String(), int(ap.Port())
		var prior []string
		if rt.clientIPHeader == "X-Forwarded-For" {
			// What the viewer's side wrote before the first trusted
			// proxy, without the trusted proxies' own entries.
			prior = entries[:i]
		} else {
			prior = r.Header["X-Forwarded-For"]
		}
		if xff := strings.TrimSpace(strings.Join(prior, ",")); xff != "" {
			v.forwardedFor = xff + ", " + v.ip
		} else {
			v.forwardedFor = v.ip
		}
		return v
	}
	return v
}

// parseForwardedAddr reads one entry of a client IP header: an address,
// optionally with a port. IPv4-mapped IPv6 addresses are unmapped.
func parseForwardedAddr(s string) (netip.AddrPort, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 0), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	return netip.AddrPort{}, false
}

func (rt *routes) trusted(a netip.Addr) bool {
	for _, p := range rt.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Shared one-element values, so setting these headers allocates nothing.
// Nothing appends to them.
var (
	valueTrue         = []string{"true"}
	valueFalse        = []string{"false"}
	valueHTTP         = []string{"http"}
	valueHTTPS        = []string{"https"}
	httpVersionValues = map[[2]int][]string{
		{1, 0}: {"1.0"}, {1, 1}: {"1.1"}, {2, 0}: {"2.0"}, {3, 0}: {"3.0"},
	}
)

func boolValue(b bool) []string {
	if b {
		return valueTrue
	}
	return valueFalse
}

// addViewerHeaders sets the viewer headers in set on x's request, in
// CloudFront's formats. A header whose value is unknown (no geo database,
// an address it does not know, a field it lacks) is left out, as
// CloudFront leaves it out.
func (s *Server) addViewerHeaders(x *exchange, set viewerHeader) {
	r := x.r
	h := r.Header
	put := func(bit viewerHeader, value string) {
		if set&bit != 0 && value != "" {
			h[viewerHeaderNames[bit]] = []string{value}
		}
	}
	if set&(vhLocation|vhAddress) != 0 {
		v := s.viewerOf(x)
		// CloudFront writes "address:port" without brackets, for IPv6 too
		// ("2001:db8::1:46532"): the port is what follows the last colon.
		if set&vhAddress != 0 {
			put(vhAddress, v.ip+":"+strconv.Itoa(v.port))
		}
		if set&vhLocation != 0 && s.locator != nil {
			if a, err := netip.ParseAddr(v.ip); err == nil {
				if loc, ok := s.locator.Lookup(a.Unmap()); ok {
					putLocation(set, put, &loc)
				}
			}
		}
	}
	if set&vhHTTPVersion != 0 {
		if v, ok := httpVersionValues[[2]int{r.ProtoMajor, r.ProtoMinor}]; ok {
			h[viewerHeaderNames[vhHTTPVersion]] = v
		} else {
			put(vhHTTPVersion, strconv.Itoa(r.ProtoMajor)+"."+strconv.Itoa(r.ProtoMinor))
		}
	}
	if set&vhForwardedProto != 0 {
		if r.TLS != nil {
			h[viewerHeaderNames[vhForwardedProto]] = valueHTTPS
		} else {
			h[viewerHeaderNames[vhForwardedProto]] = valueHTTP
		}
	}
	if set&vhTLS != 0 && r.TLS != nil {
		put(vhTLS, tlsValue(r.TLS))
	}
	if set&vhDevice != 0 {
		d := geo.ClassifyDevice(h.Get("User-Agent"))
		for _, f := range [...]struct {
			bit viewerHeader
			on  bool
		}{{vhMobile, d.Mobile}, {vhTablet, d.Tablet}, {vhDesktop, d.Desktop}, {vhSmartTV, d.SmartTV}, {vhIOS, d.IOS}, {vhAndroid, d.Android}} {
			if set&f.bit != 0 {
				h[viewerHeaderNames[f.bit]] = boolValue(f.on)
			}
		}
	}
}

// putLocation writes a location's fields: codes as the databases give them
// (Country-Region is the ISO 3166-2 subdivision code without the country,
// "WA"), coordinates as decimal strings ("47.6062", "-122.3321"), the ASN
// as a decimal number.
func putLocation(set viewerHeader, put func(viewerHeader, string), loc *geo.Location) {
	put(vhCountry, fieldValue(loc.Country))
	put(vhCountryName, fieldValue(loc.CountryName))
	put(vhCountryRegion, fieldValue(loc.Region))
	put(vhCountryRegionName, fieldValue(loc.RegionName))
	put(vhCity, fieldValue(loc.City))
	put(vhPostalCode, fieldValue(loc.PostalCode))
	put(vhTimeZone, fieldValue(loc.TimeZone))
	if loc.HasCoordinates && set&(vhLatitude|vhLongitude) != 0 {
		put(vhLatitude, strconv.FormatFloat(loc.Latitude, 'f', -1, 64))
		put(vhLongitude, strconv.FormatFloat(loc.Longitude, 'f', -1, 64))
	}
	if loc.ASN != 0 && set&vhASN != 0 {
		put(vhASN, strconv.FormatUint(uint64(loc.ASN), 10))
	}
}

// fieldValue makes a database string safe as a header value (RFC 9110
// §5.5): control characters are dropped, so that a custom database cannot
// split the origin request. Other bytes (UTF-8 names, "München") are kept.
func fieldValue(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c < 0x20 && c != '\t' || c == 0x7f) {
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String())
}

// tlsValue is CloudFront-Viewer-TLS: version:cipher:handshake, as
// "TLSv1.3:TLS_AES_128_GCM_SHA256:fullHandshake", with OpenSSL's cipher
// names as CloudFront uses them. The handshake is fullHandshake or
// sessionResumed; CloudFront's third value, connectionReused (a later
// request on the same connection), is not distinguished.
func tlsValue(cs *tls.ConnectionState) string {
	version, cipher := tlsLogFields(cs)
	handshake := "fullHandshake"
	if cs.DidResume {
		handshake = "sessionResumed"
	}
	return version + ":" + cipher + ":" + handshake
}

// tlsLogFields are the version and cipher as CloudFront names them, for
// CloudFront-Viewer-TLS and the access log's ssl-protocol and ssl-cipher.
func tlsLogFields(cs *tls.ConnectionState) (version, cipher string) {
	version = map[uint16]string{
		tls.VersionTLS10: "TLSv1", tls.VersionTLS11: "TLSv1.1",
		tls.VersionTLS12: "TLSv1.2", tls.VersionTLS13: "TLSv1.3",
	}[cs.Version]
	if version == "" {
		version = tls.VersionName(cs.Version)
	}
	cipher = openSSLCipherNames[cs.CipherSuite]
	if cipher == "" {
		cipher = tls.CipherSuiteName(cs.CipherSuite) // TLS 1.3 names are the same in both
	}
	return version, cipher
}

// openSSLCipherNames are the OpenSSL names of the TLS 1.2 suites crypto/tls
// implements.
var openSSLCipherNames = map[uint16]string{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       "ECDHE-ECDSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         "ECDHE-RSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       "ECDHE-ECDSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         "ECDHE-RSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   "ECDHE-RSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:          "ECDHE-ECDSA-AES128-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:            "ECDHE-RSA-AES128-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:          "ECDHE-ECDSA-AES256-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:            "ECDHE-RSA-AES256-SHA",
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256:               "AES128-GCM-SHA256",
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384:               "AES256-GCM-SHA384",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA:                  "AES128-SHA",
	tls.TLS_RSA_WITH_AES_256_CBC_SHA:                  "AES256-SHA",
}
