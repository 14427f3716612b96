package edge

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/geo"
	"github.com/terncdn/tern/storage/memory"
	"github.com/terncdn/tern/telemetry"
)

// prefixLocator is a geo.Locator over a few networks, for tests.
type prefixLocator map[netip.Prefix]geo.Location

func (l prefixLocator) Lookup(ip netip.Addr) (geo.Location, bool) {
	for p, loc := range l {
		if p.Contains(ip) {
			return loc, true
		}
	}
	return geo.Location{}, false
}

var testLocator = prefixLocator{
	netip.MustParsePrefix("81.2.69.0/24"): {
		Country: "GB", CountryName: "United Kingdom", Region: "ENG", RegionName: "England",
		City: "London", PostalCode: "EC1A", TimeZone: "Europe/London",
		Latitude: 51.5142, Longitude: -0.0931, HasCoordinates: true, ASN: 64512,
	},
	netip.MustParsePrefix("2001:db8:1::/48"): {
		Country: "US", CountryName: "United States", Region: "WA", RegionName: "Washington",
		City: "Seattle", PostalCode: "98101", TimeZone: "America/Los_Angeles",
		Latitude: 47.6062, Longitude: -122.3321, HasCoordinates: true, ASN: 16509,
	},
	// A custom database with a control character in a name, and no
	// coordinates or ASN.
	netip.MustParsePrefix("198.51.100.0/24"): {Country: "DE", City: "Bad\r\nX-Injected: 1"},
}

// recordingOrigin answers every request with its CloudFront-Viewer-Country
// (so that cached variants can be told apart) and keeps the last request's
// header.
type recordingOrigin struct {
	*httptest.Server
	mu     sync.Mutex
	last   http.Header
	served int
}

func newRecordingOrigin(t *testing.T) *recordingOrigin {
	o := &recordingOrigin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.last, o.served = r.Header.Clone(), o.served+1
		o.mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprintf(w, "country=%s", r.Header.Get("CloudFront-Viewer-Country"))
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *recordingOrigin) header() (http.Header, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last, o.served
}

// newViewerServer starts an edge over origin with the given behavior
// settings (YAML mapping entries) and edge settings.
func newViewerServer(t *testing.T, o *recordingOrigin, behavior, edgeYAML string, log *telemetry.AccessLog) *Server {
	t.Helper()
	u, _ := url.Parse(o.URL)
	c, err := config.Parse([]byte(`
edge: {node_id: t1, pop: tst`+edgeYAML+`}
admin: {listen: "off"}
distributions:
  - id: d
    origins: [{id: o, domain_name: `+u.Hostname()+`, http_port: `+u.Port()+`}]
    default_cache_behavior: {target_origin_id: o`+behavior+`}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Config: c, Storage: memory.New(8<<20, 1<<20), Locator: testLocator, AccessLog: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

const allViewerHeaders = `[CloudFront-Viewer-Country, CloudFront-Viewer-Country-Name, CloudFront-Viewer-Country-Region,
  CloudFront-Viewer-Country-Region-Name, CloudFront-Viewer-City, CloudFront-Viewer-Postal-Code,
  CloudFront-Viewer-Time-Zone, CloudFront-Viewer-Latitude, CloudFront-Viewer-Longitude,
  CloudFront-Viewer-Metro-Code, CloudFront-Viewer-ASN, CloudFront-Viewer-Address,
  CloudFront-Viewer-Http-Version, CloudFront-Forwarded-Proto, CloudFront-Viewer-TLS,
  CloudFront-Is-Mobile-Viewer, CloudFront-Is-Tablet-Viewer, CloudFront-Is-Desktop-Viewer,
  CloudFront-Is-SmartTV-Viewer, CloudFront-Is-IOS-Viewer, CloudFront-Is-Android-Viewer]`

const iPhoneUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"

// cloudFrontFields returns the CloudFront-* fields of h, one value each.
func cloudFrontFields(h http.Header) map[string]string {
	out := make(map[string]string)
	for k, v := range h {
		if isCloudFrontField(k) {
			out[k] = strings.Join(v, "|")
		}
	}
	return out
}

func diffFields(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s: %q", k, g)
		}
	}
}

// TestViewerHeadersToOrigin: an origin request policy that names every
// viewer header gets each in CloudFront's format, computed by the edge
// whatever the viewer sent under those names, and nothing for what Tern
// cannot know (Metro-Code, TLS on plain HTTP).
func TestViewerHeadersToOrigin(t *testing.T) {
	o := newRecordingOrigin(t)
	s := newViewerServer(t, o, `, origin_request_policy: {headers: {behavior: whitelist, names: `+allViewerHeaders+`}}`, "", nil)

	for _, tt := range []struct {
		name, remote, ua string
		want             map[string]string
	}{
		{"IPv4 iPhone in London", "81.2.69.160:4711", iPhoneUA, map[string]string{
			"Cloudfront-Viewer-Country": "GB", "Cloudfront-Viewer-Country-Name": "United Kingdom",
			"Cloudfront-Viewer-Country-Region": "ENG", "Cloudfront-Viewer-Country-Region-Name": "England",
			"Cloudfront-Viewer-City": "London", "Cloudfront-Viewer-Postal-Code": "EC1A",
			"Cloudfront-Viewer-Time-Zone": "Europe/London", "Cloudfront-Viewer-Latitude": "51.5142",
			"Cloudfront-Viewer-Longitude": "-0.0931", "Cloudfront-Viewer-Asn": "64512",
			"Cloudfront-Viewer-Address": "81.2.69.160:4711", "Cloudfront-Viewer-Http-Version": "1.1",
			"Cloudfront-Forwarded-Proto":  "http",
			"Cloudfront-Is-Mobile-Viewer": "true", "Cloudfront-Is-Tablet-Viewer": "false",
			"Cloudfront-Is-Desktop-Viewer": "false", "Cloudfront-Is-Smarttv-Viewer": "false",
			"Cloudfront-Is-Ios-Viewer": "true", "Cloudfront-Is-Android-Viewer": "false",
		}},
		{"IPv6 desktop in Seattle", "[2001:db8:1::7]:50000", "curl/8.5.0", map[string]string{
			"Cloudfront-Viewer-Country": "US", "Cloudfront-Viewer-Country-Name": "United States",
			"Cloudfront-Viewer-Country-Region": "WA", "Cloudfront-Viewer-Country-Region-Name": "Washington",
			"Cloudfront-Viewer-City": "Seattle", "Cloudfront-Viewer-Postal-Code": "98101",
			"Cloudfront-Viewer-Time-Zone": "America/Los_Angeles", "Cloudfront-Viewer-Latitude": "47.6062",
			"Cloudfront-Viewer-Longitude": "-122.3321", "Cloudfront-Viewer-Asn": "16509",
			"Cloudfront-Viewer-Address": "2001:db8:1::7:50000", "Cloudfront-Viewer-Http-Version": "1.1",
			"Cloudfront-Forwarded-Proto":  "http",
			"Cloudfront-Is-Mobile-Viewer": "false", "Cloudfront-Is-Tablet-Viewer": "false",
			"Cloudfront-Is-Desktop-Viewer": "true", "Cloudfront-Is-Smarttv-Viewer": "false",
			"Cloudfront-Is-Ios-Viewer": "false", "Cloudfront-Is-Android-Viewer": "false",
		}},
		{"unknown address: no location headers", "192.0.2.1:80", "", map[string]string{
			"Cloudfront-Viewer-Address": "192.0.2.1:80", "Cloudfront-Viewer-Http-Version": "1.1",
			"Cloudfront-Forwarded-Proto":  "http",
			"Cloudfront-Is-Mobile-Viewer": "false", "Cloudfront-Is-Tablet-Viewer": "false",
			"Cloudfront-Is-Desktop-Viewer": "true", "Cloudfront-Is-Smarttv-Viewer": "false",
			"Cloudfront-Is-Ios-Viewer": "false", "Cloudfront-Is-Android-Viewer": "false",
		}},
		{"control characters from the database are dropped", "198.51.100.9:1", "", map[string]string{
			"Cloudfront-Viewer-Country": "DE", "Cloudfront-Viewer-City": "BadX-Injected: 1",
			"Cloudfront-Viewer-Address": "198.51.100.9:1", "Cloudfront-Viewer-Http-Version": "1.1",
			"Cloudfront-Forwarded-Proto":  "http",
			"Cloudfront-Is-Mobile-Viewer": "false", "Cloudfront-Is-Tablet-Viewer": "false",
			"Cloudfront-Is-Desktop-Viewer": "true", "Cloudfront-Is-Smarttv-Viewer": "false",
			"Cloudfront-Is-Ios-Viewer": "false", "Cloudfront-Is-Android-Viewer": "false",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Each case asks for its own path, so each reaches the origin.
			req := httptest.NewRequest("GET", "http://d.test/"+strings.ReplaceAll(tt.name, " ", "-"), nil)
			req.RemoteAddr = tt.remote
			if tt.ua != "" {
				req.Header.Set("User-Agent", tt.ua)
			}
			// What a viewer may try: forge the edge's headers.
			req.Header.Set("CloudFront-Viewer-Country", "XX")
			req.Header.Set("CloudFront-Viewer-Metro-Code", "999")
			req.Header.Set("CloudFront-Is-Desktop-Viewer", "maybe")
			req.Header.Set("cloudfront-viewer-asn", "1")
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			h, _ := o.header()
			diffFields(t, cloudFrontFields(h), tt.want)
		})
	}
}

// TestViewerHeadersOnlyWhenNamed: a behavior whose policies name no
// CloudFront-* header sends none, and a viewer cannot send its own through
// allViewer or allExcept forwarding; a policy naming only some gets only
// those.
func TestViewerHeadersOnlyWhenNamed(t *testing.T) {
	for _, tt := range []struct {
		name, behavior string
		want           map[string]string
	}{
		{"no policy", "", map[string]string{}},
		{"allViewer", `, origin_request_policy: Managed-AllViewer`, map[string]string{}},
		{"allExcept", `, origin_request_policy: {headers: {behavior: allExcept, names: [x-a]}}`, map[string]string{}},
		{"two named", `, origin_request_policy: {headers: {behavior: allViewerAndWhitelistCloudFront, names: [cloudfront-viewer-city, CloudFront-Is-Tablet-Viewer]}}`,
			map[string]string{"Cloudfront-Viewer-City": "London", "Cloudfront-Is-Tablet-Viewer": "false"}},
		{"cache key and allExcept", `, cache_policy: {headers: {behavior: whitelist, names: [cloudfront-viewer-country]}}, origin_request_policy: {headers: {behavior: allExcept, names: [x-a]}}`,
			map[string]string{"Cloudfront-Viewer-Country": "GB"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := newRecordingOrigin(t)
			s := newViewerServer(t, o, tt.behavior, "", nil)
			req := httptest.NewRequest("GET", "http://d.test/x", nil)
			req.RemoteAddr = "81.2.69.160:4711"
			req.Header.Set("User-Agent", iPhoneUA)
			req.Header.Set("CloudFront-Viewer-Country", "XX")
			req.Header.Set("CloudFront-Viewer-Address", "203.0.113.1:1")
			req.Header.Set("CloudFront-Is-Tablet-Viewer", "true")
			req.Header.Set("X-Other", "kept")
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			h, _ := o.header()
			diffFields(t, cloudFrontFields(h), tt.want)
			if strings.Contains(tt.name, "all") && h.Get("X-Other") != "kept" {
				t.Errorf("X-Other not forwarded: %v", h)
			}
		})
	}
}

// TestViewerHeaderInCacheKey: a cache policy that names
// CloudFront-Viewer-Country caches a copy per country, keyed by the edge's
// value: a viewer who claims another country gets its own country's copy.
func TestViewerHeaderInCacheKey(t *testing.T) {
	o := newRecordingOrigin(t)
	s := newViewerServer(t, o, `, cache_policy: {headers: {behavior: whitelist, names: [cloudfront-viewer-country]}}`, "", nil)
	get := func(remote, claim string) (string, string) {
		req := httptest.NewRequest("GET", "http://d.test/page", nil)
		req.RemoteAddr = remote
		if claim != "" {
			req.Header.Set("CloudFront-Viewer-Country", claim)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec.Body.String(), rec.Header().Get(HeaderCache)
	}
	for i, tt := range []struct{ remote, claim, body, cache string }{
		{"81.2.69.160:1", "", "country=GB", "Miss from tern"},
		{"[2001:db8:1::1]:1", "", "country=US", "Miss from tern"},
		{"81.2.69.7:2", "", "country=GB", "Hit from tern"},
		{"81.2.69.7:3", "US", "country=GB", "Hit from tern"},
		{"[2001:db8:1::2]:1", "GB", "country=US", "Hit from tern"},
	} {
		body, cache := get(tt.remote, tt.claim)
		if body != tt.body || cache != tt.cache {
			t.Errorf("%d: %s claiming %q: %q, %q; want %q, %q", i, tt.remote, tt.claim, body, cache, tt.body, tt.cache)
		}
	}
	if _, n := o.header(); n != 2 {
		t.Errorf("origin served %d requests, want 2", n)
	}
}

// TestViewerHeadersTLS: over HTTPS, Forwarded-Proto is https and
// Viewer-TLS names the version, OpenSSL's cipher name and the handshake.
func TestViewerHeadersTLS(t *testing.T) {
	o := newRecordingOrigin(t)
	s := newViewerServer(t, o, `, origin_request_policy: {headers: {behavior: whitelist, names: [CloudFront-Forwarded-Proto, CloudFront-Viewer-TLS, CloudFront-Viewer-Http-Version]}}`, "", nil)
	for _, tt := range []struct {
		name    string
		version uint16
		want    string
	}{
		{"TLS 1.3", tls.VersionTLS13, "TLSv1.3:TLS_AES_128_GCM_SHA256:fullHandshake"},
		{"TLS 1.2", tls.VersionTLS12, "TLSv1.2:ECDHE-RSA-AES128-GCM-SHA256:fullHandshake"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewTLSServer(s)
			defer ts.Close()
			c := ts.Client()
			tr := c.Transport.(*http.Transport)
			tr.TLSClientConfig.MaxVersion = tt.version
			tr.TLSClientConfig.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
			resp, err := c.Get(ts.URL + "/tls-" + tt.name)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			h, _ := o.header()
			diffFields(t, cloudFrontFields(h), map[string]string{
				"Cloudfront-Forwarded-Proto": "https", "Cloudfront-Viewer-Tls": tt.want,
				"Cloudfront-Viewer-Http-Version": "1.1",
			})
		})
	}
}

// TestTrustedProxies: behind a trusted proxy the viewer is the rightmost
// untrusted address of the client IP header, and that address is what the
// location headers, CloudFront-Viewer-Address, the access log's c-ip and
// the origin's X-Forwarded-For show.
func TestTrustedProxies(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "access.log")
	log, err := telemetry.OpenAccessLog(logPath)
	if err != nil {
		t.Fatal(err)
	}
	o := newRecordingOrigin(t)
	s := newViewerServer(t, o,
		`, cache_policy: Managed-CachingDisabled, origin_request_policy: {headers: {behavior: whitelist, names: [CloudFront-Viewer-Country, CloudFront-Viewer-Address]}}`,
		`, trusted_proxies: [10.0.0.0/8, "2001:db8:ffff::1"]`, log)
	for _, tt := range []struct {
		name, remote, xff    string
		country, address, ip string
		originXFF            string
	}{
		{"from a trusted proxy", "10.0.0.5:999", "203.0.113.9, 81.2.69.160, 10.0.0.7",
			"GB", "81.2.69.160:0", "81.2.69.160", "203.0.113.9, 81.2.69.160"},
		{"with a port, from an IPv6 proxy", "[2001:db8:ffff::1]:999", "[2001:db8:1::5]:4242",
			"US", "2001:db8:1::5:4242", "2001:db8:1::5", "2001:db8:1::5"},
		{"from an untrusted address", "81.2.69.1:5", "[2001:db8:1::5]:4242, 10.0.0.7",
			"GB", "81.2.69.1:5", "81.2.69.1", "[2001:db8:1::5]:4242, 10.0.0.7, 81.2.69.1"},
		{"every entry trusted", "10.0.0.5:999", "10.1.1.1, 10.0.0.7",
			"", "10.1.1.1:0", "10.1.1.1", "10.1.1.1"},
		{"an entry that is not an address", "10.0.0.5:999", "81.2.69.160, unknown, 10.0.0.7",
			"", "10.0.0.5:999", "10.0.0.5", "81.2.69.160, unknown, 10.0.0.7, 10.0.0.5"},
		{"no header", "10.0.0.5:999", "",
			"", "10.0.0.5:999", "10.0.0.5", "10.0.0.5"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://d.test/p", nil)
			req.RemoteAddr = tt.remote
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			req.Header.Set("User-Agent", "ua-"+tt.name)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			h, _ := o.header()
			want := map[string]string{"Cloudfront-Viewer-Address": tt.address}
			if tt.country != "" {
				want["Cloudfront-Viewer-Country"] = tt.country
			}
			diffFields(t, cloudFrontFields(h), want)
			if got := h.Get("X-Forwarded-For"); got != tt.originXFF {
				t.Errorf("origin X-Forwarded-For = %q, want %q", got, tt.originXFF)
			}
		})
	}
	s.Close()
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// c-ip is the fifth field of CloudFront's standard log line.
	var ips []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if f := strings.Split(line, "\t"); len(f) > 4 && !strings.HasPrefix(line, "#") {
			ips = append(ips, f[4])
		}
	}
	want := []string{"81.2.69.160", "2001:db8:1::5", "81.2.69.1", "10.1.1.1", "10.0.0.5", "10.0.0.5"}
	if strings.Join(ips, " ") != strings.Join(want, " ") {
		t.Errorf("c-ip = %q, want %q", ips, want)
	}
}

// TestClientIPHeaderNotXFF: with a single-address header (X-Real-IP) the
// viewer is that address, and X-Forwarded-For toward the origin is the
// request's with the viewer appended.
func TestClientIPHeaderNotXFF(t *testing.T) {
	o := newRecordingOrigin(t)
	s := newViewerServer(t, o, `, origin_request_policy: {headers: {behavior: whitelist, names: [CloudFront-Viewer-Address]}}`,
		`, trusted_proxies: [10.0.0.0/8], client_ip_header: X-Real-IP`, nil)
	req := httptest.NewRequest("GET", "http://d.test/real-ip", nil)
	req.RemoteAddr = "10.0.0.5:999"
	req.Header.Set("X-Real-IP", "81.2.69.160")
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	s.ServeHTTP(httptest.NewRecorder(), req)
	h, _ := o.header()
	if got := h.Get("CloudFront-Viewer-Address"); got != "81.2.69.160:0" {
		t.Errorf("CloudFront-Viewer-Address = %q", got)
	}
	if got := h.Get("X-Forwarded-For"); got != "203.0.113.9, 81.2.69.160" {
		t.Errorf("X-Forwarded-For = %q", got)
	}
}

// BenchmarkServeHitViewerKey is the hit path of a behavior whose cache key
// names a location and a device header: the edge looks the viewer up and
// classifies its User-Agent on every request.
func BenchmarkServeHitViewerKey(b *testing.B) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, strings.Repeat("x", 1024))
	}))
	defer o.Close()
	u, _ := url.Parse(o.URL)
	c, err := config.Parse([]byte(`
edge: {node_id: t1, pop: tst}
admin: {listen: "off"}
distributions:
  - id: d
    origins: [{id: o, domain_name: `+u.Hostname()+`, http_port: `+u.Port()+`}]
    default_cache_behavior:
      target_origin_id: o
      cache_policy: {headers: {behavior: whitelist, names: [CloudFront-Viewer-Country, CloudFront-Is-Mobile-Viewer]}}
`), "bench")
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{Config: c, Storage: memory.New(8<<20, 1<<20), Locator: testLocator})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	req := httptest.NewRequest("GET", "http://d.test/obj", nil)
	req.RemoteAddr = "81.2.69.160:5000"
	req.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36")
	s.ServeHTTP(httptest.NewRecorder(), req)
	w := &discardWriter{h: make(http.Header, 16)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		s.ServeHTTP(w, req)
	}
	if w.h.Get("X-Cache") != "Hit from tern" {
		b.Fatalf("not a hit: %q", w.h.Get("X-Cache"))
	}
}
