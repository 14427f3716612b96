package router_test

import (
	"slices"
	"testing"

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

