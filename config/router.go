package config

import (
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
	// zone. Required.
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
	// HTTPListen, if set, is where the router also answers HTTP: each
	// request is redirected (302) to the same path at the chosen POP's
	// http_host, for clients that cannot be steered by DNS. Default ""
	// (off).
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
	// the router it is alive. Required.
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
	// HTTPHost is where the router's HTTP mode redirects viewers of this
	// POP, host or host:port. Default: its first address.
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
		if p != nil && p.HTTPHost == "" && len(p.Addresses) > 0 {
			if a, err := netip.ParseAddr(p.Addresses[0]); err == nil && a.Is6() {
				p.HTTPHost = "[" + a.String() + "]"
			} else {
				p.HTTPHost = p.Addresses[0]
			}
		}
	}
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
		if !validID(pop.Name) {
			p.add(pf+".name", "%q %s", pop.Name, idRule)
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
			host = strings.Trim(host, "[]")
			if _, err := netip.ParseAddr(host); err != nil && !validHostname(host) {
				p.add(pf+".http_host", "%q is not a host name, IP address or host:port", h)
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

// InZone reports whether name (lower case, no final dot) is zone or under
// it.
func InZone(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}
