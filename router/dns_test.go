package router_test

import (
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/terncdn/tern/router"
)

// TestECSFamilyZero: an ECS option with FAMILY 0 and SOURCE PREFIX-LENGTH
// 0 (what `dig +subnet=0` sends, and what BIND and miekg/dns accept: a
// resolver saying "do not use my client's subnet") is answered for the
// resolver's address with scope 0, not refused as malformed.
func TestECSFamilyZero(t *testing.T) {
	f := start(t, routerYAML)
	m := new(dns.Msg)
	m.SetQuestion(router.GeneratedName("site", "cdn.example")+".", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: []byte{0, 0, 0, 0}})
	resp, _, err := (&dns.Client{}).Exchange(m, f.addr)
	if err != nil {
		t.Fatal(err)
	}
	// 127.0.0.1 is not in the database: the default POP, iad.
	if resp.Rcode != dns.RcodeSuccess || !slices.Equal(addrs(resp), []string{"10.0.2.1"}) {
		t.Fatalf("ECS family 0 /0: rcode %s, %v; want NOERROR with iad's address", dns.RcodeToString[resp.Rcode], addrs(resp))
	}
	if got := scope(t, resp); got != 0 {
		t.Errorf("scope %d, want 0", got)
	}
}

// TestPOPWithoutTheFamily: a client asking for A whose nearest POP has
// only IPv6 addresses is given the nearest POP that has IPv4 ones, not an
// empty answer (and the other way round for AAAA); when no POP has the
// family the answer is NODATA.
func TestPOPWithoutTheFamily(t *testing.T) {
	f := start(t, `
router:
  zone: cdn.example
  default_pop: iad
  pops:
    - {name: fra, latitude: 50.11, longitude: 8.68, addresses: ["2001:db8:f::1"]}
    - {name: ams, latitude: 52.31, longitude: 4.76, addresses: [10.0.4.1]}
    - {name: iad, latitude: 38.95, longitude: -77.45, addresses: [10.0.2.1, "2001:db8:2::1"]}
distributions:
  - id: site
    origins: [{id: o, domain_name: origin.example}]
    default_cache_behavior: {target_origin_id: o}
`)
	name := router.GeneratedName("site", "cdn.example")
	berlin := "81.2.69.0/24"
	f.setHealth(t, map[string]int{"fra": 1, "ams": 1, "iad": 1}, true)
	for _, tc := range []struct {
		qtype uint16
		want  []string
	}{
		{dns.TypeA, []string{"10.0.4.1"}},         // fra has no IPv4: ams, the next nearest
		{dns.TypeAAAA, []string{"2001:db8:f::1"}}, // fra
		{dns.TypeANY, []string{"2001:db8:f::1"}},  // the nearest, whatever it has
	} {
		m := query(t, f.addr, "udp", name, tc.qtype, berlin)
		if m.Rcode != dns.RcodeSuccess || !slices.Equal(addrs(m), tc.want) {
			t.Errorf("%s from Berlin: rcode %s, %v; want %v", dns.TypeToString[tc.qtype], dns.RcodeToString[m.Rcode], addrs(m), tc.want)
		}
	}
	// ams drained, iad down: fra has no IPv4, so the least bad for A
	// is the nearest POP with IPv4 not drained (iad, down, over ams,
	// drained: a drain is the operator's word, liveness only a reading).
	f.setHealth(t, map[string]int{"fra": 1, "ams": 1, "iad": 0}, true)
	c := *f.cfg.Router
	c.POPs = slices.Clone(c.POPs)
	ams := *c.POPs[1]
	ams.Drained = true
	c.POPs[1] = &ams
	f.r.SetConfig(&c)
	if got := addrs(query(t, f.addr, "udp", name, dns.TypeA, berlin)); !slices.Equal(got, []string{"10.0.2.1"}) {
		t.Errorf("A from Berlin, only fra healthy: %v; want iad (the nearest with IPv4 not drained)", got)
	}
}

// TestPOPWithoutTheFamilyNowhere: when no POP has addresses of the
// family asked, the answer is NODATA (NOERROR, the SOA in authority).
func TestPOPWithoutTheFamilyNowhere(t *testing.T) {
	f := start(t, `
router:
  zone: cdn.example
  pops:
    - {name: fra, latitude: 50.11, longitude: 8.68, addresses: [10.0.1.1]}
distributions:
  - id: site
    origins: [{id: o, domain_name: origin.example}]
    default_cache_behavior: {target_origin_id: o}
`)
	m := query(t, f.addr, "udp", router.GeneratedName("site", "cdn.example"), dns.TypeAAAA, "81.2.69.0/24")
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA {
		t.Errorf("AAAA with no IPv6 POP: %v", m)
	}
}

// TestZoneTransferRefused: the router serves no zone transfers; AXFR and
// IXFR are refused (RFC 5936 §2.2.1's answer for a transfer not
// permitted), not answered with an empty NOERROR that a secondary would
// take for a broken transfer.
func TestZoneTransferRefused(t *testing.T) {
	f := start(t, routerYAML)
	for _, proto := range []string{"udp", "tcp"} {
		for _, qtype := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
			m := query(t, f.addr, proto, "cdn.example", qtype, "")
			if m.Rcode != dns.RcodeRefused || len(m.Answer) != 0 {
				t.Errorf("%s over %s: rcode %s, %d answers; want REFUSED", dns.TypeToString[qtype], proto, dns.RcodeToString[m.Rcode], len(m.Answer))
			}
		}
	}
}

// TestTCPConnectionBound: the router holds at most MaxTCPConnections TCP
// connections; one more is closed unanswered, and a place freed is taken
// again.
func TestTCPConnectionBound(t *testing.T) {
	f := start(t, routerYAML)
	q := new(dns.Msg)
	q.SetQuestion("www.cdn.example.", dns.TypeA)
	ask := func(c *dns.Conn) error {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if err := c.WriteMsg(q); err != nil {
			return err
		}
		_, err := c.ReadMsg()
		return err
	}
	var held []*dns.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range router.MaxTCPConnections {
		c, err := dns.Dial("tcp", f.addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// Each held connection asks once, so that the router keeps it (idle)
	// for longer than the test takes.
	for i, c := range held {
		if err := ask(c); err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, router.MaxTCPConnections, err)
		}
	}
	extra, err := dns.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := ask(extra); err == nil {
		t.Errorf("connection %d was answered; want it closed", router.MaxTCPConnections+1)
	}
	extra.Close()
	held[0].Close()
	held = held[1:]
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := dns.Dial("tcp", f.addr)
		if err != nil {
			t.Fatal(err)
		}
		err = ask(c)
		c.Close()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a freed place was not taken again: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
