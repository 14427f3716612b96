package config

import (
	"strings"
	"testing"
	"time"
)

const routerValid = `
router:
  zone: CDN.Example.
  nameservers: [{name: ns1.cdn.example, addresses: [192.0.2.53]}, {name: ns.other.example}]
  pops:
    - {name: fra, latitude: 50.1, longitude: 8.7, addresses: [192.0.2.1, "2001:db8::1"]}
    - {name: iad, latitude: 38.9, longitude: -77.4, addresses: ["2001:db8::2"], http_host: "iad.cdn.example:8080"}
`

func TestRouterDefaults(t *testing.T) {
	c, err := Parse([]byte(routerValid), "test")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Router
	if r.Listen != DefaultRouterListen || r.Zone != "cdn.example" || r.TTL.Std() != 20*time.Second || r.DefaultPOP != "fra" {
		t.Errorf("defaults: %+v", r)
	}
	if r.POPs[0].HTTPHost != "192.0.2.1" || r.POPs[1].HTTPHost != "iad.cdn.example:8080" {
		t.Errorf("http_host defaults: %q %q", r.POPs[0].HTTPHost, r.POPs[1].HTTPHost)
	}
	c, err = Parse([]byte("router: {zone: cdn.example, pops: [{name: a, addresses: [\"2001:db8::9\"]}]}\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	if ns := c.Router.Nameservers; len(ns) != 1 || ns[0].Name != "ns.cdn.example" {
		t.Errorf("default nameservers: %+v", ns)
	}
	if h := c.Router.POPs[0].HTTPHost; h != "[2001:db8::9]" {
		t.Errorf("IPv6 http_host default: %q", h)
	}
	if c, err := Parse([]byte("{}\n"), "test"); err != nil || c.Router != nil {
		t.Errorf("no router section: %v, %+v", err, c.Router)
	}
}

func TestRouterValidate(t *testing.T) {
	for _, tc := range []struct{ old, new, field string }{
		{"zone: CDN.Example.", "zone: ''", "router.zone"},
		{"zone: CDN.Example.", "zone: 'a..b'", "router.zone"},
		{"  pops:\n", "  ttl: 2h\n  pops:\n", "router.ttl"},
		{"  pops:\n", "  listen: nowhere\n  pops:\n", "router.listen"},
		{"  pops:\n", "  http_listen: 127.0.0.1:8053\n  pops:\n", "router.http_listen"},
		{"  pops:\n", "  default_pop: sfo\n  pops:\n", "router.default_pop"},
		{"name: ns1.cdn.example", "name: 'ns 1'", "router.nameservers[0].name"},
		{"addresses: [192.0.2.53]", "addresses: [nope]", "router.nameservers[0].addresses[0]"},
		{"name: iad", "name: fra", "router.pops[1].name"},
		{"name: iad", "name: 'i d'", "router.pops[1].name"},
		{"latitude: 50.1", "latitude: 91", "router.pops[0].latitude"},
		{"longitude: 8.7", "longitude: -181", "router.pops[0].longitude"},
		{"addresses: [192.0.2.1, ", "addresses: [192.0.2.300, ", "router.pops[0].addresses[0]"},
		{`addresses: ["2001:db8::2"]`, "addresses: []", "router.pops[1].addresses"},
		{`"iad.cdn.example:8080"`, `"iad cdn"`, "router.pops[1].http_host"},
	} {
		src := strings.Replace(routerValid, tc.old, tc.new, 1)
		if src == routerValid {
			t.Fatalf("case %q does not change the configuration", tc.old)
		}
		_, err := Parse([]byte(src), "test")
		found := false
		for _, fe := range FieldErrors(err) {
			if fe.Field == tc.field {
				found = true
			}
		}
		if !found {
			t.Errorf("%s -> %s: want a problem with %s, got %v", tc.old, tc.new, tc.field, err)
		}
	}
	_, err := Parse([]byte("router: {zone: cdn.example}\n"), "test")
	if err == nil || !strings.Contains(err.Error(), "router.pops: needs at least one POP") {
		t.Errorf("no pops: %v", err)
	}
}
