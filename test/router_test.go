package test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/geo"
	"github.com/terncdn/tern/geo/geotest"
)

// TestRouterFollowsEdges runs a control plane, three POPs whose edges
// listen on distinct loopback addresses, and `tern router` following the
// control plane: clients in different subnets are answered with their
// nearest POP; killing a POP's edge moves its viewers to the next nearest
// within 5 s, and restarting it brings them back.
func TestRouterFollowsEdges(t *testing.T) {
	nw := startNetwork(t, `distributions:
  - id: site
    aliases: [www.cdn.example]
    origins: [{id: o, domain_name: 127.0.0.1, http_port: 9}]
    default_cache_behavior: {target_origin_id: o}
`)
	// Each POP's edge listens on its own loopback address.
	edgeAt := func(pop string, last byte) *node {
		_, port, _ := net.SplitHostPort(freeAddr(t))
		file := strings.Replace(edgeFile, `listen: "%EDGE%"`, `listen: "127.0.0.`+string('0'+last)+`:`+port+`"`, 1)
		return nw.startNode(pop, pop+"-1", file)
	}
	edgeAt("fra", 2)
	edgeAt("iad", 3)
	nrt := edgeAt("nrt", 4)

	dir := t.TempDir()
	city := filepath.Join(dir, "city.mmdb")
	if err := geotest.WriteCity(city, []geotest.Record{
		{Network: "81.2.69.0/24", Location: geo.Location{City: "Berlin", Latitude: 52.52, Longitude: 13.40, HasCoordinates: true}},
		{Network: "198.51.100.0/24", Location: geo.Location{City: "New York", Latitude: 40.71, Longitude: -74.0, HasCoordinates: true}},
		{Network: "203.0.113.0/24", Location: geo.Location{City: "Osaka", Latitude: 34.69, Longitude: 135.50, HasCoordinates: true}},
		{Network: "2001:db8:1::/48", Location: geo.Location{City: "Chicago", Latitude: 41.88, Longitude: -87.63, HasCoordinates: true}},
	}); err != nil {
		t.Fatal(err)
	}
	dnsAddr := freeAddr(t)
	rt := &node{t: t, Admin: freeAddr(t), Dir: dir, output: &lockedBuffer{}}
	cfg := `geo: {database: "` + city + `"}
admin: {listen: "` + rt.Admin + `"}
router:
  listen: "` + dnsAddr + `"
  zone: cdn.example
  ttl: 5
  default_pop: fra
  pops:
    - {name: fra, latitude: 50.11, longitude: 8.68, addresses: [127.0.0.2]}
    - {name: iad, latitude: 38.95, longitude: -77.45, addresses: [127.0.0.3]}
    - {name: nrt, latitude: 35.77, longitude: 140.39, addresses: [127.0.0.4]}
`
	path := filepath.Join(dir, "router.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	rt.start("router", "--config", path, "--nats", nw.natsURL, "--nats-token-file", filepath.Join(nw.ctlDir, "nats-token"))

	ask := func(subnet string) string {
		p := netip.MustParsePrefix(subnet)
		m := new(dns.Msg)
		m.SetQuestion("www.cdn.example.", dns.TypeA)
		m.SetEdns0(1232, false)
		family := uint16(1)
		if p.Addr().Is6() {
			family = 2
		}
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET,
			Family: family, SourceNetmask: uint8(p.Bits()), Address: net.IP(p.Addr().AsSlice())})
		resp, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, dnsAddr)
		if err != nil || len(resp.Answer) != 1 {
			return ""
		}
		return resp.Answer[0].(*dns.A).A.String()
	}
	want := map[string]string{"81.2.69.0/24": "127.0.0.2", "198.51.100.0/24": "127.0.0.3",
		"203.0.113.0/24": "127.0.0.4", "2001:db8:1::/48": "127.0.0.3"}
	waitLong(t, "every client on its nearest POP", func() bool {
		for subnet, addr := range want {
			if got := ask(subnet); got != addr {
				t.Logf("%s: %s, want %s", subnet, got, addr)
				return false
			}
		}
		return true
	})

	// nrt's only edge dies: Osaka goes to the next nearest POP, fra
	// (about 9,200 km; iad is about 11,000), within 5 s.
	nrt.cmd.Process.Kill()
	nrt.cmd.Wait()
	killed := time.Now()
	for ask("203.0.113.0/24") != "127.0.0.2" {
		if time.Since(killed) > 5*time.Second {
			t.Fatalf("Osaka still answered %s 5 s after nrt's edge died", ask("203.0.113.0/24"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("nrt left answers %v after its edge died", time.Since(killed).Round(10*time.Millisecond))
	if got := ask("81.2.69.0/24"); got != "127.0.0.2" {
		t.Errorf("Berlin moved too: %s", got)
	}

	// tern route explains it.
	out, err := exec.Command(ternBin, "route", "--router", rt.Admin, "--client", "203.0.113.9", "www.cdn.example").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "chosen: fra") || !strings.Contains(string(out), "down (no live edge)") || !strings.Contains(string(out), "Osaka") {
		t.Errorf("tern route: %v\n%s", err, out)
	}

	// Back: Osaka returns to nrt.
	nrt.start(nrt.cmd.Args[1:]...)
	waitLong(t, "Osaka back on nrt", func() bool { return ask("203.0.113.0/24") == "127.0.0.4" })
	for subnet, addr := range want {
		if got := ask(subnet); got != addr {
			t.Errorf("%s: %s, want %s", subnet, got, addr)
		}
	}
	if !slices.Contains([]string{"127.0.0.2"}, ask("81.2.69.0/24")) {
		t.Error("Berlin not on fra")
	}
}

// lookupA asks the DNS server at addr for name's A records.
func lookupA(t *testing.T, addr, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	resp, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatalf("ask %s for %s: %v", addr, name, err)
	}
	var out []string
	for _, rr := range resp.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

// TestRouterHTTPMode: the router's HTTP mode sends a viewer of
// www.cdn.test to <site's d-label>.local.cdn.test on the port it asked
// for, with the path and query; the router's DNS answers that name with
// the POP's address, and the edge there serves the site (not the
// catch-all next to it) at that name.
func TestRouterHTTPMode(t *testing.T) {
	site := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "site "+r.URL.Path)
	})
	other := startOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "catch-all") })
	dnsAddr, httpAddr := freeAddr(t), freeAddr(t)
	n := startTern(t, `edge: {listen: "%EDGE%", pop: local}
admin: {listen: "%ADMIN%"}
router:
  listen: "`+dnsAddr+`"
  http_listen: "`+httpAddr+`"
  zone: cdn.test
  pops: [{name: local, latitude: 50, longitude: 8, addresses: [127.0.0.1]}]
distributions:
  - id: site
    aliases: [www.cdn.test]
    origins: [{id: o, domain_name: 127.0.0.1, http_port: `+site.port()+`}]
    default_cache_behavior: {target_origin_id: o, cache_policy: Managed-CachingDisabled}
  - id: other
    aliases: ["*"]
    origins: [{id: o, domain_name: 127.0.0.1, http_port: `+other.port()+`}]
    default_cache_behavior: {target_origin_id: o, cache_policy: Managed-CachingDisabled}
`)
	edgeIP, edgePort, _ := net.SplitHostPort(n.Edge)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", "http://"+httpAddr+"/a/b.txt?q=1&r=2", nil)
	req.Host = "www.cdn.test:" + edgePort // the port the viewer asked for
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	target := "http://" + config.GeneratedLabel("site") + ".local.cdn.test:" + edgePort + "/a/b.txt?q=1&r=2"
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != target || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("router HTTP mode: %s, Location %q, Cache-Control %q; want 302 to %q, no-store",
			resp.Status, resp.Header.Get("Location"), resp.Header.Get("Cache-Control"), target)
	}

	// Follow it as a viewer would: the name resolved at the router.
	u, _ := url.Parse(target)
	if got := lookupA(t, dnsAddr, u.Hostname()); !slices.Equal(got, []string{edgeIP}) {
		t.Fatalf("the router's answer for %s: %v, want the POP's %s", u.Hostname(), got, edgeIP)
	}
	viewer := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, _ := net.SplitHostPort(addr)
		ips := lookupA(t, dnsAddr, host)
		if len(ips) == 0 {
			return nil, &net.DNSError{Err: "no address", Name: host}
		}
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort(ips[0], port))
	}}}
	resp, err = viewer.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "site /a/b.txt" {
		t.Errorf("GET %s at the edge: %s %q; want the site's object", target, resp.Status, body)
	}

	// tern route shows where the 302 goes.
	out, err := exec.Command(ternBin, "route", "--router", n.Admin, "--client", "127.0.0.1", "www.cdn.test").CombinedOutput()
	if err != nil || !strings.Contains(string(out), u.Hostname()) {
		t.Errorf("tern route: %v\n%s", err, out)
	}
}
