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
	// The HTTP mode redirects under the POP's pinned name unless told
	// otherwise.
	if r.POPs[0].HTTPHost != "fra.cdn.example" || r.POPs[1].HTTPHost != "iad.cdn.example:8080" {
		t.Errorf("http_host defaults: %q %q", r.POPs[0].HTTPHost, r.POPs[1].HTTPHost)
	}
	c, err = Parse([]byte("router: {zone: cdn.example, pops: [{name: a, addresses: [\"2001:db8::9\"]}]}\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	if ns := c.Router.Nameservers; len(ns) != 1 || ns[0].Name != "ns.cdn.example" {
		t.Errorf("default nameservers: %+v", ns)
	}
	if h := c.Router.POPs[0].HTTPHost; h != "a.cdn.example" {
		t.Errorf("http_host default of an IPv6 POP: %q", h)
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
		// The HTTP mode's redirect names the distribution in its first
		// label: an address cannot.
		{`"iad.cdn.example:8080"`, `"192.0.2.7:8080"`, "router.pops[1].http_host"},
		{`"iad.cdn.example:8080"`, `"[2001:db8::7]:8080"`, "router.pops[1].http_host"},
		{`"iad.cdn.example:8080"`, `"192.0.2.7"`, "router.pops[1].http_host"},
		// Under the zone only the POP's own name is answered with its
		// addresses.
		{`"iad.cdn.example:8080"`, `"edge.cdn.example"`, "router.pops[1].http_host"},
		// POP names are DNS labels, and not generated ones.
		{"name: iad", "name: IAD", "router.pops[1].name"},
		{"name: iad", "name: iad.1", "router.pops[1].name"},
		{"name: iad", "name: iad_1", "router.pops[1].name"},
		{"name: iad", "name: d1234abcd", "router.pops[1].name"},
		{"name: ns1.cdn.example", "name: fra.cdn.example", "router.pops[0].name"},
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

// TestRouterHTTPHostOutsideZone: an operator's own per-POP names outside
// the zone are accepted as http_host, with or without a port.
func TestRouterHTTPHostOutsideZone(t *testing.T) {
	for _, h := range []string{"fra.edges.example.net", "fra.edges.example.net:8080", "fra.cdn.example:8443"} {
		src := strings.Replace(routerValid, "addresses: [192.0.2.1, \"2001:db8::1\"]}", "addresses: [192.0.2.1], http_host: \""+h+"\"}", 1)
		if src == routerValid {
			t.Fatal("the case does not change the configuration")
		}
		if _, err := Parse([]byte(src), "test"); err != nil {
			t.Errorf("http_host %q: %v", h, err)
		}
	}
}

func TestGeneratedLabel(t *testing.T) {
	l := GeneratedLabel("site")
	if !looksGenerated(l) || l == GeneratedLabel("other") || l != GeneratedLabel("site") {
		t.Errorf("GeneratedLabel: %q", l)
	}
	for _, s := range []string{"d1234abc", "d1234abcde", "e1234abcd", "d1234abcg", "D1234ABCD"} {
		if looksGenerated(s) {
			t.Errorf("looksGenerated(%q)", s)
		}
	}
}

// TestGeneratedNameConflicts: distributions whose generated labels are the
// same, and aliases that take a POP's pinned names or another
// distribution's generated name, are refused, naming both.
func TestGeneratedNameConflicts(t *testing.T) {
	dist := func(id, aliases string) string {
		return "  - id: " + id + "\n    aliases: " + aliases + "\n    origins: [{id: o, domain_name: o.test}]\n    default_cache_behavior: {target_origin_id: o}\n"
	}
	router := "router:\n  zone: cdn.example\n  pops: [{name: fra, addresses: [192.0.2.1]}]\n"
	// site-34359 and site-74386 both hash to d570d51e5.
	for _, tc := range []struct{ name, src, field, says string }{
		{"same generated label", "distributions:\n" + dist("site-34359", "[a.test]") + dist("site-74386", "[b.test]"),
			"distributions[1].id", `distributions[0] ("site-34359")`},
		{"alias is a pinned POP name", router + "distributions:\n" + dist("a", "[fra.cdn.example]"),
			"distributions[0].aliases[0]", "POP fra"},
		{"alias under a pinned POP name", router + "distributions:\n" + dist("a", "[x.fra.cdn.example]"),
			"distributions[0].aliases[0]", "POP fra"},
		{"wildcard under a pinned POP name", router + "distributions:\n" + dist("a", `["*.fra.cdn.example"]`),
			"distributions[0].aliases[0]", "POP fra"},
		{"wildcard over the zone", router + "distributions:\n" + dist("a", `["*.cdn.example"]`) + dist("b", "[b.test]"),
			"distributions[0].aliases[0]", "generated names"},
		{"wildcard over the zone's parent", router + "distributions:\n" + dist("a", `["*.example"]`) + dist("b", "[b.test]"),
			"distributions[0].aliases[0]", "generated names"},
		{"alias is another's generated name", router + "distributions:\n" + dist("a", "["+GeneratedLabel("b")+".cdn.example]") + dist("b", "[b.test]"),
			"distributions[0].aliases[0]", `distributions[1] ("b")`},
	} {
		_, err := Parse([]byte(tc.src), "test")
		found := false
		for _, fe := range FieldErrors(err) {
			if fe.Field == tc.field && strings.Contains(fe.Problem, tc.says) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: want a problem with %s saying %q, got %v", tc.name, tc.field, tc.says, err)
		}
	}
	// What stays allowed: one distribution with a wildcard over the zone
	// (no other generated name to take), a disabled twin's label, and an
	// alias that is the distribution's own generated name.
	for _, src := range []string{
		router + "distributions:\n" + dist("a", `["*.cdn.example"]`),
		"distributions:\n" + dist("site-34359", "[a.test]") + strings.Replace(dist("site-74386", "[b.test]"), "    aliases:", "    enabled: false\n    aliases:", 1),
		router + "distributions:\n" + dist("a", "["+GeneratedLabel("a")+".cdn.example]") + dist("b", "[b.test]"),
	} {
		if _, err := Parse([]byte(src), "test"); err != nil {
			t.Errorf("refused:\n%s\n%v", src, err)
		}
	}
}
