package router_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/control"
	"github.com/terncdn/tern/geo"
	"github.com/terncdn/tern/geo/geotest"
	"github.com/terncdn/tern/router"
)

// Clients of the test database, and the POP nearest each.
var places = []geotest.Record{
	{Network: "81.2.69.0/24", Location: geo.Location{Country: "DE", City: "Berlin", Latitude: 52.52, Longitude: 13.40, HasCoordinates: true}},
	{Network: "198.51.100.0/24", Location: geo.Location{Country: "US", City: "New York", Latitude: 40.71, Longitude: -74.0, HasCoordinates: true}},
	{Network: "203.0.113.0/24", Location: geo.Location{Country: "JP", City: "Osaka", Latitude: 34.69, Longitude: 135.50, HasCoordinates: true}},
	{Network: "2001:db8:1::/48", Location: geo.Location{Country: "AU", City: "Sydney", Latitude: -33.87, Longitude: 151.21, HasCoordinates: true}},
	{Network: "192.0.2.0/24", Location: geo.Location{Country: "FR"}}, // no coordinates
}

const routerYAML = `
router:
  zone: cdn.example
  ttl: 15s
  default_pop: iad
  nameservers: [{name: ns1.cdn.example, addresses: [10.53.0.1, "2001:db8:53::1"]}]
  pops:
    - {name: fra, latitude: 50.11, longitude: 8.68, addresses: [10.0.1.1, 10.0.1.2, "2001:db8:f::1"]}
    - {name: iad, latitude: 38.95, longitude: -77.45, addresses: [10.0.2.1], http_host: "iad.cdn.example:8080"}
    - {name: nrt, latitude: 35.77, longitude: 140.39, addresses: [10.0.3.1]}
distributions:
  - id: site
    aliases: [www.cdn.example, "*.img.cdn.example", www.example.org]
    origins: [{id: o, domain_name: origin.example}]
    default_cache_behavior: {target_origin_id: o}
`

// fakeHealth is a Health a test sets.
type fakeHealth struct {
	mu       sync.Mutex
	live     map[string]int
	complete bool
}

func (f *fakeHealth) LiveEdges() (map[string]int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live, f.complete
}

type fixture struct {
	r      *router.Router
	addr   string
	health *fakeHealth
	cfg    *config.Config
}

func start(t *testing.T, yaml string) *fixture { return startTB(t, yaml) }

func startB(b *testing.B) *fixture { return startTB(b, routerYAML) }

func startTB(t testing.TB, yaml string) *fixture {
	t.Helper()
	c, err := config.Parse([]byte(yaml), "test")
	if err != nil {
		t.Fatal(err)
	}
	db, err := geo.Open(geotest.City(t, places...), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := &fakeHealth{live: map[string]int{"fra": 2, "iad": 1, "nrt": 1}, complete: true}
	r := router.New(router.Options{Config: c.Router, Locator: db, Health: h})
	r.SetDistributions(c.Distributions)
	pc, ln, err := router.ListenDNS("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, pc, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &fixture{r: r, addr: pc.LocalAddr().String(), health: h, cfg: c}
}

// setHealth changes the fake's liveness and makes the router read it (as
// Run does every HealthInterval).
func (f *fixture) setHealth(t *testing.T, live map[string]int, complete bool) {
	f.health.mu.Lock()
	f.health.live, f.health.complete = live, complete
	f.health.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	go f.r.Run(ctx)
	t.Cleanup(cancel)
	// Run reads at its first tick; ask until it shows.
	for i := 0; i < 100; i++ {
		d := f.r.Explain(netip.MustParseAddr("81.2.69.1"), "")
		ok := strings.Contains(d.Reason, "still being learned") == !complete
		for _, p := range d.POPs {
			if p.LiveEdges != live[p.Name] {
				ok = false
			}
		}
		if ok {
			cancel()
			return
		}
		sleep(router.HealthInterval / 5)
	}
	t.Fatal("the router did not read the new health")
}

func query(t *testing.T, addr, net_, name string, qtype uint16, subnet string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if subnet != "" {
		p := netip.MustParsePrefix(subnet)
		m.SetEdns0(1232, false)
		family := uint16(1)
		if p.Addr().Is6() {
			family = 2
		}
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET,
			Family: family, SourceNetmask: uint8(p.Bits()), Address: net.IP(p.Addr().AsSlice())})
	}
	c := &dns.Client{Net: net_}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return resp
}

func addrs(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		}
	}
	slices.Sort(out)
	return out
}

func scope(t *testing.T, m *dns.Msg) int {
	t.Helper()
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if s, ok := o.(*dns.EDNS0_SUBNET); ok {
				return int(s.SourceScope)
			}
		}
	}
	t.Fatal("no ECS option in the answer")
	return 0
}

func TestNearestPOP(t *testing.T) {
	f := start(t, routerYAML)
	name := router.GeneratedName("site", "cdn.example")
	for _, tc := range []struct {
		subnet string
		qtype  uint16
		want   []string
	}{
		{"81.2.69.0/24", dns.TypeA, []string{"10.0.1.1", "10.0.1.2"}}, // Berlin: fra
		{"81.2.69.0/24", dns.TypeAAAA, []string{"2001:db8:f::1"}},     // fra's IPv6
		{"198.51.100.0/24", dns.TypeA, []string{"10.0.2.1"}},          // New York: iad
		{"203.0.113.0/24", dns.TypeA, []string{"10.0.3.1"}},           // Osaka: nrt
		{"2001:db8:1::/48", dns.TypeA, []string{"10.0.3.1"}},          // Sydney: nrt
		{"192.0.2.0/24", dns.TypeA, []string{"10.0.2.1"}},             // no coordinates: default iad
		{"100.64.0.0/24", dns.TypeA, []string{"10.0.2.1"}},            // unknown: default iad
		{"81.2.69.0/24", dns.TypeANY, []string{"10.0.1.1", "10.0.1.2", "2001:db8:f::1"}},
	} {
		for _, n := range []string{name, "www.cdn.example", "a.b.img.cdn.example"} {
			for _, proto := range []string{"udp", "tcp"} {
				m := query(t, f.addr, proto, n, tc.qtype, tc.subnet)
				if m.Rcode != dns.RcodeSuccess || !m.Authoritative || !slices.Equal(addrs(m), tc.want) {
					t.Errorf("%s %s %s from %s: rcode %d aa %v %v; want %v", proto, n, dns.TypeToString[tc.qtype], tc.subnet, m.Rcode, m.Authoritative, addrs(m), tc.want)
				}
				if got, want := scope(t, m), netip.MustParsePrefix(tc.subnet).Bits(); got != want {
					t.Errorf("%s from %s: ECS scope %d, want %d", n, tc.subnet, got, want)
				}
				for _, rr := range m.Answer {
					if rr.Header().Ttl != 15 {
						t.Errorf("TTL %d, want 15", rr.Header().Ttl)
					}
				}
			}
		}
	}
	// Without ECS, the resolver's address (127.0.0.1, not in the
	// database) places the client: the default POP.
	if got := addrs(query(t, f.addr, "udp", name, dns.TypeA, "")); !slices.Equal(got, []string{"10.0.2.1"}) {
		t.Errorf("no ECS: %v", got)
	}
	// Source prefix 0 asks that the subnet not be used.
	m := query(t, f.addr, "udp", name, dns.TypeA, "81.2.69.0/0")
	if got := addrs(m); !slices.Equal(got, []string{"10.0.2.1"}) || scope(t, m) != 0 {
		t.Errorf("ECS /0: %v scope %d", got, scope(t, m))
	}
}

func TestHealth(t *testing.T) {
	f := start(t, routerYAML)
	name := router.GeneratedName("site", "cdn.example")
	berlin, tokyo := "81.2.69.0/24", "203.0.113.0/24"
	ask := func(subnet string) []string { return addrs(query(t, f.addr, "udp", name, dns.TypeA, subnet)) }

	// fra's edges are gone: Berlin goes to the next nearest, iad.
	f.setHealth(t, map[string]int{"fra": 0, "iad": 1, "nrt": 1}, true)
	if got := ask(berlin); !slices.Equal(got, []string{"10.0.2.1"}) {
		t.Errorf("fra down: Berlin got %v, want iad", got)
	}
	// A POP never heard from counts down once the source is complete...
	f.setHealth(t, map[string]int{"iad": 1}, true)
	if got := ask(tokyo); !slices.Equal(got, []string{"10.0.2.1"}) {
		t.Errorf("nrt unheard: Osaka got %v, want iad", got)
	}
	// ...and alive while the source is still learning.
	f.setHealth(t, map[string]int{"iad": 1}, false)
	if got := ask(tokyo); !slices.Equal(got, []string{"10.0.3.1"}) {
		t.Errorf("nrt unheard, learning: Osaka got %v, want nrt", got)
	}
	// Every POP down: the nearest anyway.
	f.setHealth(t, map[string]int{"fra": 0, "iad": 0, "nrt": 0}, true)
	if got := ask(berlin); !slices.Equal(got, []string{"10.0.1.1", "10.0.1.2"}) {
		t.Errorf("all down: Berlin got %v, want fra", got)
	}
	d := f.r.Explain(netip.MustParseAddr("81.2.69.1"), name)
	if d.POP != "fra" || d.Reason != "no POP is healthy: the nearest one not drained (least bad)" {
		t.Errorf("explain all down: %+v", d)
	}
	// The default POP down: unknown clients go to the healthy POP nearest
	// to it.
	f.setHealth(t, map[string]int{"fra": 1, "iad": 0, "nrt": 1}, true)
	if got := ask("100.64.0.0/24"); !slices.Equal(got, []string{"10.0.1.1", "10.0.1.2"}) {
		t.Errorf("default down: unknown client got %v, want fra (nearest iad)", got)
	}
	// Back: Berlin returns to fra.
	f.setHealth(t, map[string]int{"fra": 1, "iad": 1, "nrt": 1}, true)
	if got := ask(berlin); !slices.Equal(got, []string{"10.0.1.1", "10.0.1.2"}) {
		t.Errorf("fra back: Berlin got %v", got)
	}
}

func TestDrained(t *testing.T) {
	f := start(t, routerYAML)
	c := *f.cfg.Router
	c.POPs = slices.Clone(c.POPs)
	fra := *c.POPs[0]
	fra.Drained = true
	c.POPs[0] = &fra
	f.r.SetConfig(&c)
	got := addrs(query(t, f.addr, "udp", "www.cdn.example", dns.TypeA, "81.2.69.0/24"))
	if !slices.Equal(got, []string{"10.0.2.1"}) {
		t.Errorf("fra drained: Berlin got %v, want iad", got)
	}
	d := f.r.Explain(netip.MustParseAddr("81.2.69.1"), "www.cdn.example")
	if d.POP != "iad" || !d.POPs[0].Drained || d.POPs[0].Name != "fra" || d.Distribution != "site" || !d.Located || d.Location.City != "Berlin" {
		t.Errorf("explain drained: %+v", d)
	}
}

// TestOperatorDrain: a drain from the control plane takes a POP out of
// answers as the configuration's does; either source drains; when no POP
// is healthy the nearest one not drained answers, and only when every
// POP is drained the nearest of all.
func TestOperatorDrain(t *testing.T) {
	f := start(t, routerYAML)
	berlin := func() []string { return addrs(query(t, f.addr, "udp", "www.cdn.example", dns.TypeA, "81.2.69.0/24")) }
	since := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	f.r.SetDrains(map[string]control.Drain{"fra": {POP: "fra", Reason: "disk swap", Since: since}, "lhr": {POP: "lhr"}})
	if got := berlin(); !slices.Equal(got, []string{"10.0.2.1"}) {
		t.Errorf("fra drained by operator: Berlin got %v, want iad", got)
	}
	d := f.r.Explain(netip.MustParseAddr("81.2.69.1"), "www.cdn.example")
	if p := d.POPs[0]; d.POP != "iad" || p.Name != "fra" || !p.Drained || p.DrainedInConfig || p.Operator == nil || p.Operator.Reason != "disk swap" || !p.Operator.Since.Equal(since) || p.Healthy {
		t.Errorf("explain: %+v %+v", d, d.POPs[0].Operator)
	}
	// A reload keeps the drains; the file's drain adds to them.
	c := *f.cfg.Router
	c.POPs = slices.Clone(c.POPs)
	iad := *c.POPs[1]
	iad.Drained = true
	c.POPs[1] = &iad
	f.r.SetConfig(&c)
	if got := berlin(); !slices.Equal(got, []string{"10.0.3.1"}) {
		t.Errorf("fra (operator) and iad (file) drained: Berlin got %v, want nrt", got)
	}
	// Every POP down by health: the nearest not drained, nrt, not fra.
	f.setHealth(t, map[string]int{"fra": 0, "iad": 0, "nrt": 0}, true)
	if got := berlin(); !slices.Equal(got, []string{"10.0.3.1"}) {
		t.Errorf("all down, fra and iad drained: Berlin got %v, want nrt", got)
	}
	if d := f.r.Explain(netip.MustParseAddr("81.2.69.1"), ""); !strings.HasPrefix(d.Reason, "no POP is healthy: the nearest one not drained") {
		t.Errorf("reason: %q", d.Reason)
	}
	// Every POP drained: the nearest of all.
	f.r.SetDrains(map[string]control.Drain{"fra": {POP: "fra"}, "nrt": {POP: "nrt"}})
	if got := berlin(); !slices.Equal(got, []string{"10.0.1.1", "10.0.1.2"}) {
		t.Errorf("all drained: Berlin got %v, want fra", got)
	}
	if d := f.r.Explain(netip.MustParseAddr("81.2.69.1"), ""); !strings.HasPrefix(d.Reason, "every POP is drained") {
		t.Errorf("reason: %q", d.Reason)
	}
	// Undrained (the file's iad drain stays): Berlin back on fra.
	f.setHealth(t, map[string]int{"fra": 1, "iad": 1, "nrt": 1}, true)
	f.r.SetDrains(nil)
	if got := berlin(); !slices.Equal(got, []string{"10.0.1.1", "10.0.1.2"}) {
		t.Errorf("undrained: Berlin got %v, want fra", got)
	}
	if d := f.r.Explain(netip.MustParseAddr("198.51.100.1"), ""); d.POP == "iad" {
		t.Errorf("iad is drained in the file: %+v", d)
	}
}

func TestZoneAnswers(t *testing.T) {
	f := start(t, routerYAML)
	name := router.GeneratedName("site", "cdn.example")
	soaOf := func(rrs []dns.RR) *dns.SOA {
		for _, rr := range rrs {
			if s, ok := rr.(*dns.SOA); ok {
				return s
			}
		}
		return nil
	}
	for _, tc := range []struct {
		name    string
		qtype   uint16
		rcode   int
		answers int
		negSOA  bool // SOA in authority
	}{
		{"cdn.example", dns.TypeSOA, dns.RcodeSuccess, 1, false},
		{"CDN.Example", dns.TypeNS, dns.RcodeSuccess, 1, false},
		{"cdn.example", dns.TypeA, dns.RcodeSuccess, 0, true},      // NODATA at the apex
		{"ns1.cdn.example", dns.TypeA, dns.RcodeSuccess, 1, false}, // the name server's glue
		{"ns1.cdn.example", dns.TypeAAAA, dns.RcodeSuccess, 1, false},
		{name, dns.TypeMX, dns.RcodeSuccess, 0, true},                // NODATA
		{"www.cdn.example", dns.TypeTXT, dns.RcodeSuccess, 0, true},  // NODATA
		{"img.cdn.example", dns.TypeA, dns.RcodeSuccess, 0, true},    // the wildcard's parent: NXDOMAIN
		{"nope.cdn.example", dns.TypeA, dns.RcodeNameError, 0, true}, // NXDOMAIN
		{"x." + name, dns.TypeA, dns.RcodeNameError, 0, true},        // under a distribution name
		{"www.example.org", dns.TypeA, dns.RcodeRefused, 0, false},   // an alias outside the zone
		{"example.org", dns.TypeSOA, dns.RcodeRefused, 0, false},
	} {
		m := query(t, f.addr, "udp", tc.name, tc.qtype, "")
		if m.Rcode != tc.rcode || len(m.Answer) != tc.answers || (soaOf(m.Ns) != nil) != tc.negSOA {
			t.Errorf("%s %s: rcode %s, %d answers, authority %v; want %s, %d, SOA %v",
				tc.name, dns.TypeToString[tc.qtype], dns.RcodeToString[m.Rcode], len(m.Answer), m.Ns,
				dns.RcodeToString[tc.rcode], tc.answers, tc.negSOA)
		}
		if tc.rcode != dns.RcodeRefused && !m.Authoritative {
			t.Errorf("%s: not authoritative", tc.name)
		}
		if s := soaOf(m.Ns); s != nil && (s.Hdr.Ttl != 15 || s.Minttl != 15 || s.Ns != "ns1.cdn.example.") {
			t.Errorf("%s: negative SOA %v", tc.name, s)
		}
	}
	m := query(t, f.addr, "udp", "cdn.example", dns.TypeNS, "")
	if ns, ok := m.Answer[0].(*dns.NS); !ok || ns.Ns != "ns1.cdn.example." || len(m.Extra) < 2 {
		t.Errorf("NS: %v, glue %v", m.Answer, m.Extra)
	}
	// The serial moves forward with every change of the distributions.
	s1 := soaOf(query(t, f.addr, "udp", "cdn.example", dns.TypeSOA, "").Answer).Serial
	f.r.SetDistributions(nil)
	s2 := soaOf(query(t, f.addr, "udp", "cdn.example", dns.TypeSOA, "").Answer).Serial
	if s2 <= s1 {
		t.Errorf("serial %d after a change, was %d", s2, s1)
	}
	if m := query(t, f.addr, "udp", name, dns.TypeA, ""); m.Rcode != dns.RcodeNameError {
		t.Errorf("a removed distribution: rcode %s", dns.RcodeToString[m.Rcode])
	}
}

func TestTruncation(t *testing.T) {
	yaml := "router:\n  zone: cdn.example\n  pops:\n    - name: big\n      addresses: ["
	for i := range 60 {
		yaml += fmt.Sprintf("\"2001:db8::%x\", ", i+1)
	}
	yaml += "]\ndistributions: [{id: site, origins: [{id: o, domain_name: o.example}], default_cache_behavior: {target_origin_id: o}}]\n"
	f := start(t, yaml)
	name := router.GeneratedName("site", "cdn.example")
	// 60 AAAA records are about 1.7 KB: over UDP without EDNS (512 bytes)
	// the answer is truncated; over TCP it is whole.
	m := query(t, f.addr, "udp", name, dns.TypeAAAA, "")
	if !m.Truncated || len(m.Answer) >= 60 {
		t.Errorf("UDP, 512 bytes: truncated %v with %d answers", m.Truncated, len(m.Answer))
	}
	m = query(t, f.addr, "tcp", name, dns.TypeAAAA, "")
	if m.Truncated || len(m.Answer) != 60 {
		t.Errorf("TCP: truncated %v with %d answers", m.Truncated, len(m.Answer))
	}
}

func TestMalformed(t *testing.T) {
	f := start(t, routerYAML)
	c := &dns.Client{}
	m := new(dns.Msg)
	m.SetQuestion("www.cdn.example.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option,
		// family 1, source prefix 40 (more than IPv4 has), scope 0, address
		&dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: []byte{0, 1, 40, 0, 81, 2, 69, 0, 0}})
	resp, _, err := c.Exchange(m, f.addr)
	if err != nil || resp.Rcode != dns.RcodeFormatError {
		t.Errorf("ECS /40 on IPv4: %v %v", resp, err)
	}
	m = new(dns.Msg)
	m.SetQuestion("www.cdn.example.", dns.TypeA)
	m.Opcode = dns.OpcodeNotify
	if resp, _, err = c.Exchange(m, f.addr); err != nil || resp.Rcode != dns.RcodeNotImplemented {
		t.Errorf("NOTIFY: %v %v", resp, err)
	}
}

// TestHTTPMode: a 302 to the distribution's generated label under the
// chosen POP's http_host (its pinned name by default), keeping the path,
// the query and the request's port unless http_host gives one.
func TestHTTPMode(t *testing.T) {
	f := start(t, routerYAML)
	h := f.r.HTTPHandler()
	label := config.GeneratedLabel("site")
	for _, tc := range []struct{ remote, host, want string }{
		{"81.2.69.7:5000", "www.cdn.example", "http://" + label + ".fra.cdn.example/a/b.jpg?x=1"},
		{"81.2.69.7:5000", "WWW.cdn.example.:8088", "http://" + label + ".fra.cdn.example:8088/a/b.jpg?x=1"},
		{"81.2.69.7:5000", "x.img.cdn.example", "http://" + label + ".fra.cdn.example/a/b.jpg?x=1"},
		{"198.51.100.7:5000", router.GeneratedName("site", "cdn.example") + ":80", "http://" + label + ".iad.cdn.example:8080/a/b.jpg?x=1"},
	} {
		req := httptest.NewRequest("GET", "http://"+tc.host+"/a/b.jpg?x=1", nil)
		req.RemoteAddr = tc.remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusFound || rec.Header().Get("Location") != tc.want || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s from %s: %d %q (Cache-Control %q); want 302 %q, no-store", tc.host, tc.remote, rec.Code,
				rec.Header().Get("Location"), rec.Header().Get("Cache-Control"), tc.want)
		}
	}
	// Not a distribution's name: the router's own pinned names, other
	// hosts.
	for _, host := range []string{"other.example", "fra.cdn.example", label + ".fra.cdn.example", "cdn.example"} {
		req := httptest.NewRequest("GET", "http://"+host+"/", nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", host, rec.Code)
		}
	}
	// With http_listen set, Explain shows where the 302 goes.
	g := start(t, strings.Replace(routerYAML, "  ttl: 15s\n", "  ttl: 15s\n  http_listen: 127.0.0.1:0\n", 1))
	if d := g.r.Explain(netip.MustParseAddr("81.2.69.1"), "www.cdn.example"); d.Redirect != label+".fra.cdn.example" {
		t.Errorf("explain redirect: %q", d.Redirect)
	}
	if d := f.r.Explain(netip.MustParseAddr("81.2.69.1"), "www.cdn.example"); d.Redirect != "" {
		t.Errorf("explain redirect without http_listen: %q", d.Redirect)
	}
}

// TestPinnedPOPNames: <pop>.<zone> and every name under it are answered
// with that POP's addresses, whoever asks and whatever the POP's health or
// drain; the answer does not depend on the client's subnet (ECS scope 0).
func TestPinnedPOPNames(t *testing.T) {
	f := start(t, routerYAML)
	label := config.GeneratedLabel("site")
	check := func(when string) {
		t.Helper()
		for _, tc := range []struct {
			name   string
			qtype  uint16
			subnet string
			want   []string
		}{
			{"fra.cdn.example", dns.TypeA, "198.51.100.0/24", []string{"10.0.1.1", "10.0.1.2"}},
			{label + ".fra.cdn.example", dns.TypeA, "203.0.113.0/24", []string{"10.0.1.1", "10.0.1.2"}},
			{label + ".FRA.cdn.example", dns.TypeAAAA, "81.2.69.0/24", []string{"2001:db8:f::1"}},
			{"a.b.fra.cdn.example", dns.TypeANY, "81.2.69.0/24", []string{"10.0.1.1", "10.0.1.2", "2001:db8:f::1"}},
			{label + ".nrt.cdn.example", dns.TypeA, "81.2.69.0/24", []string{"10.0.3.1"}},
			{label + ".iad.cdn.example", dns.TypeAAAA, "81.2.69.0/24", nil}, // NODATA: iad has no IPv6
		} {
			m := query(t, f.addr, "udp", tc.name, tc.qtype, tc.subnet)
			if m.Rcode != dns.RcodeSuccess || !m.Authoritative || !slices.Equal(addrs(m), tc.want) || scope(t, m) != 0 {
				t.Errorf("%s: %s %s from %s: rcode %s, %v, scope %d; want %v, scope 0", when, tc.name, dns.TypeToString[tc.qtype], tc.subnet,
					dns.RcodeToString[m.Rcode], addrs(m), scope(t, m), tc.want)
			}
		}
		d := f.r.Explain(netip.MustParseAddr("203.0.113.9"), label+".fra.cdn.example")
		if d.POP != "fra" || !strings.HasPrefix(d.Reason, "pinned") || d.Distribution != "" {
			t.Errorf("%s: explain a pinned name: %+v", when, d)
		}
	}
	check("healthy")
	f.setHealth(t, map[string]int{"fra": 0, "iad": 1, "nrt": 1}, true)
	check("fra down")
	c := *f.cfg.Router
	c.POPs = slices.Clone(c.POPs)
	fra := *c.POPs[0]
	fra.Drained = true
	c.POPs[0] = &fra
	f.r.SetConfig(&c)
	check("fra drained")
	// A wildcard alias over the zone does not take the pinned names.
	g := start(t, strings.Replace(routerYAML, `aliases: [www.cdn.example, "*.img.cdn.example", www.example.org]`, `aliases: ["*.cdn.example"]`, 1))
	m := query(t, g.addr, "udp", label+".nrt.cdn.example", dns.TypeA, "81.2.69.0/24")
	if got := addrs(m); !slices.Equal(got, []string{"10.0.3.1"}) {
		t.Errorf("under a wildcard alias over the zone: %v, want nrt's", got)
	}
	if got := addrs(query(t, g.addr, "udp", "other.cdn.example", dns.TypeA, "81.2.69.0/24")); !slices.Equal(got, []string{"10.0.1.1", "10.0.1.2"}) {
		t.Errorf("the wildcard alias itself: %v, want fra's (nearest)", got)
	}
}

func TestGeneratedName(t *testing.T) {
	a, b := router.GeneratedName("site", "CDN.example."), router.GeneratedName("other", "cdn.example")
	if len(a) != len("d12345678.cdn.example") || a[0] != 'd' || a == b || a != router.GeneratedName("site", "cdn.example") {
		t.Errorf("GeneratedName: %q %q", a, b)
	}
}
