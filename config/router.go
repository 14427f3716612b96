package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Router's defaults.
const (
	DefaultRouterListen = "127.0.0.1:8053"
	DefaultRouterTTL    = Duration(20 * time.Second)
	maxRouterTTL        = time.Hour
)

// Router configures the DNS request router: the authoritative DNS server
// for the distributions' names, answering each viewer with the addresses
// of the nearest healthy POP. `tern router` runs it; `tern serve` runs it
// too when this section is present.
type Router struct {
	// Listen is where the router answers DNS, over UDP and TCP, host:port.
	// Default "127.0.0.1:8053"; port 53 on a public address to be the
	// zone's real name server.
	Listen string `yaml:"listen"`
	// Zone is the domain the router is authoritative for, e.g.
	// "cdn.example.com". Each distribution is answered at a generated name
	// "d<8 hex digits>.<zone>" (from its id; `tern route` and the router's
	// /status list them) and at each of its aliases that is under the
	// zone. Each POP is answered, pinned, at "<pop name>.<zone>" and at
	// every name under it: always that POP's addresses, whatever its
	// health (the HTTP mode sends clients there on purpose). An alias may
	// not be one of those names nor under one. Required.
	Zone string `yaml:"zone"`
	// TTL is the time to live of address answers, and of "no such name"
	// answers: small, so that viewers move when a POP goes down. Default
	// 20s; at most 1h.
	TTL Duration `yaml:"ttl,omitempty"`
	// Nameservers are the zone's NS records, the names the parent zone
	// delegates to. Default: one, "ns.<zone>", with no addresses.
	Nameservers []RouterNameserver `yaml:"nameservers,omitempty"`
	// POPs are the points of presence viewers are sent to. Required: at
	// least one.
	POPs []*RouterPOP `yaml:"pops"`
	// DefaultPOP names the POP for viewers whose location is unknown (no
	// geo database, or an address it does not know). Default: the first
	// of pops.
	DefaultPOP string `yaml:"default_pop,omitempty"`
	// HTTPListen, if set, is where the router also answers HTTP, for
	// clients that cannot be steered by DNS: a request for a
	// distribution's name is redirected (302) to the same path and query
	// at "<the distribution's d-label>.<the chosen POP's http_host>", e.g.
	// http://d1a2b3c4.fra.cdn.example.com/a.jpg. The redirect keeps the
	// port the client asked for, unless http_host gives one. Edges serve
	// a distribution at any host whose first label is its d-label.
	// Default "" (off).
	HTTPListen string `yaml:"http_listen,omitempty"`
}

// RouterNameserver is one NS record of the zone.
type RouterNameserver struct {
	// Name is the name server's host name, e.g. "ns1.cdn.example.com".
	Name string `yaml:"name"`
	// Addresses are its IP addresses, answered for A and AAAA queries of
	// Name when Name is under the zone. Give them for such a name: the
	// parent zone needs them as glue, and without them the router knows
	// the name but has no address for it.
	Addresses []string `yaml:"addresses,omitempty"`
}

// RouterPOP is one point of presence as the router sees it.
type RouterPOP struct {
	// Name is the POP: the edge.pop of its edges, whose heartbeats tell
	// the router it is alive. It is also a DNS label ("<name>.<zone>" is
	// answered with this POP's addresses): lower-case letters, digits and
	// "-", at most 63, and not of a generated name's form ("d" and 8 hex
	// digits). Required.
	Name string `yaml:"name"`
	// Latitude and Longitude place the POP, in degrees: viewers go to the
	// nearest POP by great-circle distance.
	Latitude  float64 `yaml:"latitude"`
	Longitude float64 `yaml:"longitude"`
	// Addresses are what viewers are given for this POP: the IPv4 (A) and
	// IPv6 (AAAA) addresses of its edges or of its load balancer.
	// Required: at least one.
	Addresses []string `yaml:"addresses"`
	// Drained takes the POP out of answers while its edges keep running
	// (maintenance). Default false. An operator can also drain a POP at
	// run time through the control plane ("tern drain POP"), for every
	// router following it; either drains it.
	Drained bool `yaml:"drained,omitempty"`
	// HTTPHost is the host the router's HTTP mode redirects viewers of
	// this POP under: the redirect goes to "<d-label>.<http_host>", so it
	// is a host name or host name:port, not an IP address (an edge could
	// not tell from an address which distribution was asked for). Default
	// "<name>.<zone>", which the router answers itself; set it for your
	// own per-POP names outside the zone (e.g. "fra.edges.example.net",
	// with a wildcard record under it pointing at the POP).
	HTTPHost string `yaml:"http_host,omitempty"`
}

// POP returns the POP named name, or nil.
func (r *Router) POP(name string) *RouterPOP {
	for _, p := range r.POPs {
		if p != nil && p.Name == name {
			return p
		}
	}
	return nil
}

func (r *Router) applyDefaults() {
	setString(&r.Listen, DefaultRouterListen)
	r.Zone = strings.ToLower(strings.TrimSuffix(r.Zone, "."))
	if r.TTL == 0 {
		r.TTL = DefaultRouterTTL
	}
	if len(r.Nameservers) == 0 && r.Zone != "" {
		r.Nameservers = []RouterNameserver{{Name: "ns." + r.Zone}}
	}
	for i := range r.Nameservers {
		r.Nameservers[i].Name = strings.ToLower(strings.TrimSuffix(r.Nameservers[i].Name, "."))
	}
	if r.DefaultPOP == "" && len(r.POPs) > 0 && r.POPs[0] != nil {
		r.DefaultPOP = r.POPs[0].Name
	}
	for _, p := range r.POPs {
		if p != nil && p.HTTPHost == "" && p.Name != "" && r.Zone != "" {
			p.HTTPHost = r.PinnedName(p)
		}
	}
}

// PinnedName is the name the router answers, with the names under it,
// with p's addresses whatever its health: "<pop name>.<zone>".
func (r *Router) PinnedName(p *RouterPOP) string {
	return strings.ToLower(p.Name) + "." + r.Zone
}

// GeneratedLabel is the first label of a distribution's generated name:
// "d" and the first 8 hex digits of the SHA-256 of its id, e.g.
// "d1a2b3c4". The router answers "<label>.<zone>", and edges serve the
// distribution at any host whose first label it is.
func GeneratedLabel(distributionID string) string {
	sum := sha256.Sum256([]byte(distributionID))
	return "d" + hex.EncodeToString(sum[:4])
}

// looksGenerated reports whether label has a generated label's form.
func looksGenerated(label string) bool {
	if len(label) != 9 || label[0] != 'd' {
		return false
	}
	for i := 1; i < len(label); i++ {
		if c := label[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// CheckPOPName returns why name cannot be the name of one of
// router.pops, or "" if it can: the control API checks the POPs an
// operator drains with it too.
func CheckPOPName(name string) string {
	switch {
	case !validLabel(name):
		return fmt.Sprintf("%q is not a DNS label (lower-case letters, digits and \"-\", at most 63, not starting or ending with \"-\"): the router answers <name>.<zone> with the POP's addresses", name)
	case looksGenerated(name):
		return fmt.Sprintf("%q has the form of a distribution's generated label (\"d\" and 8 hex digits): <name>.<zone> could be a distribution's name", name)
	}
	return ""
}

// validLabel reports whether s is a lower-case DNS label (RFC 1123 §2.1).
func validLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (r *Router) validate(p *problems) {
	const f = "router"
	if problem := checkListen(r.Listen); problem != "" {
		p.add(f+".listen", "%s", problem)
	}
	if r.Zone == "" {
		p.add(f+".zone", "is required (the domain the router answers for, e.g. cdn.example.com)")
	} else if !validHostname(r.Zone) {
		p.add(f+".zone", "%q is not a domain name", r.Zone)
	}
	if r.TTL < Duration(time.Second) || r.TTL.Std() > maxRouterTTL {
		p.add(f+".ttl", "%s is not between 1s and 1h", seconds(r.TTL))
	}
	for i, ns := range r.Nameservers {
		nf := fmt.Sprintf("%s.nameservers[%d]", f, i)
		if !validHostname(ns.Name) {
			p.add(nf+".name", "%q is not a host name", ns.Name)
			continue
		}
		for k, a := range ns.Addresses {
			if _, err := netip.ParseAddr(a); err != nil {
				p.add(fmt.Sprintf("%s.addresses[%d]", nf, k), "%q is not an IP address", a)
			}
		}
	}
	if len(r.POPs) == 0 {
		p.add(f+".pops", "needs at least one POP")
	}
	seen := map[string]int{}
	for i, pop := range r.POPs {
		pf := fmt.Sprintf("%s.pops[%d]", f, i)
		if pop == nil {
			p.add(pf, "is empty")
			continue
		}
		if problem := CheckPOPName(pop.Name); problem != "" {
			p.add(pf+".name", "%s", problem)
		} else if j, dup := seen[pop.Name]; dup {
			p.add(pf+".name", "%q is already the name of %s.pops[%d]", pop.Name, f, j)
		} else {
			seen[pop.Name] = i
		}
		if pop.Latitude < -90 || pop.Latitude > 90 {
			p.add(pf+".latitude", "%v is not between -90 and 90", pop.Latitude)
		}
		if pop.Longitude < -180 || pop.Longitude > 180 {
			p.add(pf+".longitude", "%v is not between -180 and 180", pop.Longitude)
		}
		if len(pop.Addresses) == 0 {
			p.add(pf+".addresses", "needs at least one IP address (what viewers of this POP are given)")
		}
		for k, a := range pop.Addresses {
			if ip, err := netip.ParseAddr(a); err != nil || ip.Zone() != "" {
				p.add(fmt.Sprintf("%s.addresses[%d]", pf, k), "%q is not an IP address", a)
			}
		}
		if h := pop.HTTPHost; h != "" {
			host := h
			if hasPort(h) {
				if problem := checkListen(h); problem != "" {
					p.add(pf+".http_host", "%s", problem)
					continue
				}
				host, _, _ = net.SplitHostPort(h)
			}
			host = strings.ToLower(strings.TrimSuffix(host, "."))
			switch {
			case isIPLiteral(host):
				p.add(pf+".http_host", "%q is an IP address: the HTTP mode redirects to <d-label>.<http_host>, so that the edge knows the distribution; give a host name (default <name>.<zone>)", h)
			case !validHostname(host):
				p.add(pf+".http_host", "%q is not a host name or host name:port", h)
			case r.Zone != "" && InZone(host, r.Zone) && validLabel(pop.Name) && host != r.PinnedName(pop):
				p.add(pf+".http_host", "%q is under router.zone but is not %q: the router answers only the POP's own name (and the names under it) with the POP's addresses", h, r.PinnedName(pop))
			}
		}
		if validLabel(pop.Name) && r.Zone != "" {
			pinned := r.PinnedName(pop)
			for k, ns := range r.Nameservers {
				if InZone(ns.Name, pinned) {
					p.add(pf+".name", "%q: router.nameservers[%d] %q is %s or under it, which the router answers with the POP's addresses", pop.Name, k, ns.Name, pinned)
				}
			}
		}
	}
	if r.DefaultPOP != "" && r.POP(r.DefaultPOP) == nil {
		p.add(f+".default_pop", "%q is not the name of one of router.pops", r.DefaultPOP)
	}
	if r.HTTPListen != "" {
		if problem := checkListen(r.HTTPListen); problem != "" {
			p.add(f+".http_listen", "%s", problem)
		} else if r.HTTPListen == r.Listen && !strings.HasSuffix(r.Listen, ":0") {
			p.add(f+".http_listen", "%q is also router.listen (which takes DNS over TCP)", r.HTTPListen)
		}
	}
}

// isIPLiteral reports whether host is an IP address, bracketed or not.
func isIPLiteral(host string) bool {
	_, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil
}

// InZone reports whether name (lower case, no final dot) is zone or under
// it.
func InZone(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// validateGeneratedNames checks what edges and the router answer at
// generated names: no two enabled distributions share a generated label
// (edges could serve only one of them there), and, with a router, no
// alias takes a name the router pins to a POP or a name edges should
// serve as another distribution.
func (c *Config) validateGeneratedNames(p *problems) {
	labels := make(map[string]int) // generated label → distribution index
	enabled := 0
	for i, d := range c.Distributions {
		if d == nil || !d.IsEnabled() || !validID(d.ID) {
			continue
		}
		enabled++
		l := GeneratedLabel(d.ID)
		if j, dup := labels[l]; dup {
			if c.Distributions[j].ID == d.ID {
				continue // the same id twice, said already
			}
			p.add(fmt.Sprintf("distributions[%d].id", i), "%q has the generated name %s.<zone> of distributions[%d] (%q): the two ids' hashes begin alike; change one of the ids",
				d.ID, l, j, c.Distributions[j].ID)
			continue
		}
		labels[l] = i
	}
	r := c.Router
	if r == nil || r.Zone == "" {
		return
	}
	for i, d := range c.Distributions {
		if d == nil {
			continue
		}
		for k, a := range d.Aliases {
			af := fmt.Sprintf("distributions[%d].aliases[%d]", i, k)
			a = strings.ToLower(a)
			suffix, wild := strings.CutPrefix(a, "*.")
			for _, pop := range r.POPs {
				if pop == nil || !validLabel(pop.Name) {
					continue
				}
				if pinned := r.PinnedName(pop); InZone(suffix, pinned) {
					p.add(af, "%q is at or under %s, which the router answers with POP %s's addresses only (the HTTP mode's names): choose another name", a, pinned, pop.Name)
				}
			}
			switch {
			case wild && InZone(r.Zone, suffix) && enabled > 1 && d.IsEnabled():
				// Edges try wildcard aliases before generated labels, so
				// this one would take every other distribution's
				// generated name at the edges.
				p.add(af, "%q covers router.zone %s: edges would serve the other distributions' generated names (d<8 hex>.%s) as this one; use aliases under a name of its own", a, r.Zone, r.Zone)
			case !wild:
				label, parent, _ := strings.Cut(a, ".")
				if j, ok := labels[label]; ok && j != i && parent == r.Zone {
					p.add(af, "%q is the generated name of distributions[%d] (%q)", a, j, c.Distributions[j].ID)
				}
			}
		}
	}
}
