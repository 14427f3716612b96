package test

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/terncdn/tern/geo"
	"github.com/terncdn/tern/geo/geotest"
)

// Clients of writeCityDB's database.
const (
	berlin  = "81.2.69.0/24"
	newYork = "198.51.100.0/24"
	osaka   = "203.0.113.0/24"
)

// writeCityDB writes a small City database placing Berlin, New York and
// Osaka, and returns its path.
func writeCityDB(t *testing.T, dir string) string {
	t.Helper()
	city := filepath.Join(dir, "city.mmdb")
	if err := geotest.WriteCity(city, []geotest.Record{
		{Network: berlin, Location: geo.Location{City: "Berlin", Latitude: 52.52, Longitude: 13.40, HasCoordinates: true}},
		{Network: newYork, Location: geo.Location{City: "New York", Latitude: 40.71, Longitude: -74.0, HasCoordinates: true}},
		{Network: osaka, Location: geo.Location{City: "Osaka", Latitude: 34.69, Longitude: 135.50, HasCoordinates: true}},
	}); err != nil {
		t.Fatal(err)
	}
	return city
}

// askA asks the DNS server at addr for name's A record for a client in
// subnet, and returns the one address answered ("" for anything else).
func askA(addr, name, subnet string) string {
	p := netip.MustParsePrefix(subnet)
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET,
		Family: 1, SourceNetmask: uint8(p.Bits()), Address: net.IP(p.Addr().AsSlice())})
	resp, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, addr)
	if err != nil || len(resp.Answer) != 1 {
		return ""
	}
	a, _ := resp.Answer[0].(*dns.A)
	if a == nil {
		return ""
	}
	return a.A.String()
}

// within waits up to limit for cond and returns how long it took; the
// test fails if it did not happen.
func within(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	began := time.Now()
	for !cond() {
		if time.Since(began) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	d := time.Since(began)
	t.Logf("%s after %v", what, d.Round(time.Millisecond))
	return d
}

func route(t *testing.T, admin, client, name string) string {
	t.Helper()
	out, err := exec.Command(ternBin, "route", "--router", admin, "--client", client, name).CombinedOutput()
	if err != nil {
		t.Fatalf("tern route: %v\n%s", err, out)
	}
	return string(out)
}

// TestOperatorDrainAndOutage runs a control plane, edges in three POPs
// and `tern router --nats --data-dir`: `tern drain` takes a POP out of
// the router's answers within 5 s and `tern undrain` brings it back;
// through an outage of the control plane the router keeps answering with
// the drain, also after a restart of its own (from --data-dir), and it
// follows the control plane again once it is back.
func TestOperatorDrainAndOutage(t *testing.T) {
	nw := startNetwork(t, `distributions:
  - id: site
    aliases: [www.cdn.example]
    origins: [{id: o, domain_name: 127.0.0.1, http_port: 9}]
    default_cache_behavior: {target_origin_id: o}
`)
	for i, pop := range []string{"fra", "iad", "nrt"} {
		_, port, _ := net.SplitHostPort(freeAddr(t))
		nw.startNode(pop, pop+"-1", strings.Replace(edgeFile, `listen: "%EDGE%"`, `listen: "127.0.0.`+string(rune('2'+i))+`:`+port+`"`, 1))
	}
	dir := t.TempDir()
	dnsAddr := freeAddr(t)
	rt := &node{t: t, Admin: freeAddr(t), Dir: dir, output: &lockedBuffer{}}
	// The file has no distributions: www.cdn.example is answered only
	// with the control plane's, or the ones kept under --data-dir.
	cfg := `geo: {database: "` + writeCityDB(t, dir) + `"}
admin: {listen: "` + rt.Admin + `"}
router:
  listen: "` + dnsAddr + `"
  zone: cdn.example
  ttl: 5
  pops:
    - {name: fra, latitude: 50.11, longitude: 8.68, addresses: [127.0.0.2]}
    - {name: iad, latitude: 38.95, longitude: -77.45, addresses: [127.0.0.3]}
    - {name: nrt, latitude: 35.77, longitude: 140.39, addresses: [127.0.0.4]}
`
	path := filepath.Join(dir, "router.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	rt.start("router", "--config", path, "--nats", nw.natsURL, "--nats-token-file", filepath.Join(nw.ctlDir, "nats-token"),
		"--data-dir", filepath.Join(dir, "state"), "--connect-timeout", "5s")
	ask := func(subnet string) string { return askA(dnsAddr, "www.cdn.example", subnet) }
	want := map[string]string{berlin: "127.0.0.2", newYork: "127.0.0.3", osaka: "127.0.0.4"}
	waitLong(t, "every client on its nearest POP", func() bool {
		for subnet, addr := range want {
			if ask(subnet) != addr {
				return false
			}
		}
		return true
	})

	// Drained by the operator: Osaka goes to fra within 5 s, while nrt's
	// edge keeps heartbeating.
	began := time.Now()
	if out, err := nw.cli("drain", "nrt", "--reason", "disk swap"); err != nil || !strings.Contains(out, "POP nrt drained") {
		t.Fatalf("tern drain: %v\n%s", err, out)
	}
	within(t, 5*time.Second-time.Since(began), "Osaka off the drained nrt", func() bool { return ask(osaka) == "127.0.0.2" })
	t.Logf("from running tern drain to the answer moving: %v", time.Since(began).Round(time.Millisecond))
	if out := route(t, rt.Admin, "203.0.113.9", "www.cdn.example"); !strings.Contains(out, "drained (by operator: disk swap)") || !strings.Contains(out, "chosen: fra") {
		t.Errorf("tern route:\n%s", out)
	}
	out, err := nw.cli("pops")
	if err != nil || !regexpLine(out, `^nrt\s+1/1\s+.*\btrue\b.*disk swap$`) || !regexpLine(out, `^fra\s+1/1\s+.*\bfalse\b`) {
		t.Errorf("tern pops: %v\n%s", err, out)
	}
	if ask(berlin) != "127.0.0.2" || ask(newYork) != "127.0.0.3" {
		t.Error("the drain moved other clients")
	}
	// Undrained: back within 5 s.
	began = time.Now()
	if out, err := nw.cli("undrain", "nrt"); err != nil || !strings.Contains(out, "POP nrt undrained") {
		t.Fatalf("tern undrain: %v\n%s", err, out)
	}
	within(t, 5*time.Second-time.Since(began), "Osaka back on nrt", func() bool { return ask(osaka) == "127.0.0.4" })
	t.Logf("from running tern undrain to the answer moving back: %v", time.Since(began).Round(time.Millisecond))
	if out, err := nw.cli("undrain", "nrt"); err != nil || !strings.Contains(out, "was not drained") {
		t.Errorf("tern undrain again: %v\n%s", err, out)
	}
	if out, err := nw.cli("drain", "no..pop"); err == nil || !strings.Contains(out, "pop: ") {
		t.Errorf("tern drain of a bad name: %v\n%s", err, out)
	}

	// The control plane (and its NATS) goes away with iad drained: the
	// router keeps the drain, and keeps answering past the time every
	// edge's heartbeat would count gone.
	if out, err := nw.cli("drain", "iad", "--reason", "upgrade"); err != nil {
		t.Fatalf("tern drain: %v\n%s", err, out)
	}
	within(t, 5*time.Second, "New York off the drained iad", func() bool { return ask(newYork) == "127.0.0.2" })
	nw.ctl.cmd.Process.Signal(syscall.SIGKILL)
	nw.ctl.cmd.Wait()
	time.Sleep(5 * time.Second)
	if ask(newYork) != "127.0.0.2" || ask(osaka) != "127.0.0.4" || ask(berlin) != "127.0.0.2" {
		t.Errorf("during the outage: New York %s, Osaka %s, Berlin %s", ask(newYork), ask(osaka), ask(berlin))
	}
	if out := route(t, rt.Admin, "198.51.100.9", "www.cdn.example"); !strings.Contains(out, "the control plane is away") || !strings.Contains(out, "drained (by operator: upgrade)") {
		t.Errorf("tern route during the outage:\n%s", out)
	}

	// The router restarts during the outage: it answers at once, with the
	// distributions and the drain it kept.
	rt.cmd.Process.Signal(syscall.SIGKILL)
	rt.cmd.Wait()
	restarted := time.Now()
	rt.start(rt.cmd.Args[1:]...)
	// --connect-timeout is 5s: with distributions kept it does not wait.
	if d := time.Since(restarted); d > 4*time.Second {
		t.Errorf("the router answered %v after its restart without the control plane", d)
	} else {
		t.Logf("the router answered %v after its restart without the control plane", d.Round(10*time.Millisecond))
	}
	if got := ask(newYork); got != "127.0.0.2" {
		t.Errorf("restarted without the control plane: New York %q, want fra (iad drained)", got)
	}
	if got := ask(osaka); got != "127.0.0.4" {
		t.Errorf("restarted without the control plane: Osaka %q, want nrt", got)
	}
	if out := route(t, rt.Admin, "203.0.113.9", "www.cdn.example"); !strings.Contains(out, "no control plane reached yet") {
		t.Errorf("tern route after the restart:\n%s", out)
	}
	// Still not there a while later: a few log lines, not a flood.
	time.Sleep(6 * time.Second)
	logged := strings.Count(rt.output.String(), "control plane still not reached") + strings.Count(rt.output.String(), "control plane not reached")
	if logged == 0 || logged > 6 {
		t.Errorf("%d lines about the control plane not being reached in about 11 s", logged)
	}

	// The control plane is back: the router links by itself and follows
	// a change made after.
	nw.ctl.start(nw.ctl.cmd.Args[1:]...)
	if out, err := nw.cli("undrain", "iad"); err != nil {
		t.Fatalf("tern undrain: %v\n%s", err, out)
	}
	waitLong(t, "New York back on iad once the control plane is back", func() bool { return ask(newYork) == "127.0.0.3" })
	waitLong(t, "the router saying it follows the control plane again", func() bool {
		return strings.Contains(rt.output.String(), "following the control plane")
	})
}

// TestRouterReload: SIGHUP re-reads `tern router`'s file: a POP drained
// there leaves answers, a bad file is refused with the running
// configuration kept, and a new listener is said to take a restart. The
// router's NATS is not there: it answers the file's distributions all
// along.
func TestRouterReload(t *testing.T) {
	dir := t.TempDir()
	dnsAddr := freeAddr(t)
	rt := &node{t: t, Admin: freeAddr(t), Dir: dir, output: &lockedBuffer{}}
	cfg := `geo: {database: "` + writeCityDB(t, dir) + `"}
admin: {listen: "` + rt.Admin + `"}
router:
  listen: "` + dnsAddr + `"
  zone: cdn.example
  pops:
    - {name: fra, latitude: 50.11, longitude: 8.68, addresses: [127.0.0.2]}
    - {name: iad, latitude: 38.95, longitude: -77.45, addresses: [127.0.0.3]}
distributions:
  - id: site
    aliases: [www.cdn.example]
    origins: [{id: o, domain_name: 127.0.0.1, http_port: 9}]
    default_cache_behavior: {target_origin_id: o}
`
	path := filepath.Join(dir, "router.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg)
	// No NATS listens there: the router answers from the file.
	rt.start("router", "--config", path, "--nats", "nats://"+freeAddr(t), "--connect-timeout", "1s")
	ask := func() string { return askA(dnsAddr, "www.cdn.example", berlin) }
	if got := ask(); got != "127.0.0.2" {
		t.Fatalf("Berlin: %q, want fra", got)
	}
	hup := func() { rt.cmd.Process.Signal(syscall.SIGHUP) }

	write(strings.Replace(cfg, "addresses: [127.0.0.2]}", "addresses: [127.0.0.2], drained: true}", 1))
	hup()
	within(t, 5*time.Second, "Berlin off fra, drained in the file", func() bool { return ask() == "127.0.0.3" })
	if out := route(t, rt.Admin, "81.2.69.9", "www.cdn.example"); !strings.Contains(out, "drained (in the configuration)") {
		t.Errorf("tern route:\n%s", out)
	}

	write(strings.Replace(cfg, "zone: cdn.example", "zone: cdn..example", 1))
	hup()
	waitLong(t, "the bad file refused", func() bool { return strings.Contains(rt.output.String(), "reload refused") })
	if !strings.Contains(rt.output.String(), "router.zone") {
		t.Errorf("the refusal does not name router.zone:\n%s", rt.output.String())
	}
	if got := ask(); got != "127.0.0.3" {
		t.Errorf("after a refused reload: %q, want iad still", got)
	}

	other := freeAddr(t)
	write(strings.Replace(cfg, dnsAddr, other, 1))
	hup()
	waitLong(t, "the new listener's restart logged", func() bool {
		return strings.Contains(rt.output.String(), "router.listen changed: it takes a restart")
	})
	// The warning is logged before the new section is put in service:
	// the answer follows within moments, not at once.
	within(t, 5*time.Second, "Berlin back on fra, undrained by the reload", func() bool { return ask() == "127.0.0.2" })
}

// TestServeRouterFollowsDrains: `tern serve --data-dir` with a router:
// `tern drain` takes its POP out of the router's answers.
func TestServeRouterFollowsDrains(t *testing.T) {
	dir := t.TempDir()
	dnsAddr := freeAddr(t)
	n := startTern(t, `edge: {listen: "%EDGE%", pop: fra}
admin: {listen: "%ADMIN%"}
geo: {database: "`+writeCityDB(t, dir)+`"}
router:
  listen: "`+dnsAddr+`"
  zone: cdn.example
  pops:
    - {name: fra, latitude: 50.11, longitude: 8.68, addresses: [127.0.0.2]}
    - {name: iad, latitude: 38.95, longitude: -77.45, addresses: [127.0.0.3]}
distributions:
  - id: site
    aliases: [www.cdn.example]
    origins: [{id: o, domain_name: 127.0.0.1, http_port: 9}]
    default_cache_behavior: {target_origin_id: o}
`, "--data-dir", filepath.Join(dir, "data"))
	ask := func() string { return askA(dnsAddr, "www.cdn.example", berlin) }
	cli := func(args ...string) string {
		out, err := exec.Command(ternBin, append(args, "--data-dir", filepath.Join(dir, "data"))...).CombinedOutput()
		if err != nil {
			t.Fatalf("tern %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	waitLong(t, "Berlin on fra", func() bool { return ask() == "127.0.0.2" })
	cli("drain", "fra", "--reason", "test")
	// iad has no edge: every POP not drained is down, so the nearest one
	// not drained answers.
	within(t, 5*time.Second, "Berlin off the drained fra", func() bool { return ask() == "127.0.0.3" })
	if out := route(t, n.Admin, "81.2.69.9", "www.cdn.example"); !strings.Contains(out, "drained (by operator: test)") {
		t.Errorf("tern route:\n%s", out)
	}
	cli("undrain", "fra")
	within(t, 5*time.Second, "Berlin back on fra", func() bool { return ask() == "127.0.0.2" })
}

// regexpLine reports whether a line of out matches pattern.
func regexpLine(out, pattern string) bool {
	re := regexp.MustCompile(pattern)
	for _, l := range strings.Split(out, "\n") {
		if re.MatchString(strings.TrimRight(l, " ")) {
			return true
		}
	}
	return false
}
