package router

import (
	"net/netip"
	"strings"

	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/control"
)

// nameKind is what a name in the zone is.
type nameKind int

const (
	nameNone         nameKind = iota // nothing: NXDOMAIN
	nameApex                         // the zone itself: SOA and NS
	nameServer                       // a name server's name under the zone
	nameDistribution                 // a distribution's generated name or alias
	nameEmpty                        // an empty non-terminal: exists, no records
	namePinned                       // a POP's own name: it and the names under it answer that POP
)

type name struct {
	kind         nameKind
	distribution string       // nameDistribution
	label        string       // nameDistribution: its generated label
	addrs        []netip.Addr // nameServer
	pop          *pop         // namePinned
}

// zone is everything answers are made from, built whole at each change
// and read without locks.
type zone struct {
	origin      string // lower case, no final dot
	ttl         uint32
	serial      uint32
	nameservers []string // FQDNs
	names       map[string]name
	// wildcards maps the suffix after "*." of a wildcard alias to its
	// distribution's name.
	wildcards map[string]name
	pops      []*pop
	def       *pop
	// httpMode is whether the router answers HTTP (router.http_listen).
	httpMode bool
}

// newZone builds the zone of c and ds, with the operator drains.
func newZone(c *config.Router, ds []*config.Distribution, drains map[string]control.Drain, serial uint32) *zone {
	z := &zone{origin: c.Zone, ttl: uint32(c.TTL.Std().Seconds()), serial: serial,
		names: map[string]name{}, wildcards: map[string]name{}, httpMode: c.HTTPListen != ""}
	z.names[z.origin] = name{kind: nameApex}
	for _, ns := range c.Nameservers {
		z.nameservers = append(z.nameservers, ns.Name+".")
		if config.InZone(ns.Name, z.origin) && ns.Name != z.origin {
			n := name{kind: nameServer}
			for _, a := range ns.Addresses {
				if ip, err := netip.ParseAddr(a); err == nil {
					n.addrs = append(n.addrs, ip.Unmap())
				}
			}
			z.add(ns.Name, n)
		}
	}
	for i, p := range c.POPs {
		zp := &pop{name: p.Name, lat: radians(p.Latitude), lon: radians(p.Longitude),
			drained: p.Drained, httpHost: p.HTTPHost, index: i}
		if d, ok := drains[p.Name]; ok {
			zp.operator = &d
		}
		for _, a := range p.Addresses {
			ip, err := netip.ParseAddr(a)
			if err != nil {
				continue
			}
			if ip = ip.Unmap(); ip.Is4() {
				zp.v4 = append(zp.v4, ip)
			} else {
				zp.v6 = append(zp.v6, ip)
			}
		}
		z.pops = append(z.pops, zp)
		// Pinned names go in before the distributions' (Validate refuses
		// aliases at or under them; were one to slip through, the POP
		// keeps the name).
		z.add(c.PinnedName(p), name{kind: namePinned, pop: zp})
		if p.Name == c.DefaultPOP {
			z.def = zp
		}
	}
	for _, d := range ds {
		if d == nil {
			continue
		}
		dn := name{kind: nameDistribution, distribution: d.ID, label: config.GeneratedLabel(d.ID)}
		z.add(dn.label+"."+z.origin, dn)
		for _, a := range d.Aliases {
			a = strings.ToLower(a)
			if suffix, ok := strings.CutPrefix(a, "*."); ok {
				if config.InZone(suffix, z.origin) {
					z.wildcards[suffix] = dn
					if suffix != z.origin {
						z.markEmpty(suffix)
					}
				}
				continue
			}
			if config.InZone(a, z.origin) && a != z.origin {
				z.add(a, dn)
			}
		}
	}
	if z.def == nil && len(z.pops) > 0 {
		z.def = z.pops[0]
	}
	return z
}

// add puts n at fqdn (lower case, no final dot, under the zone), and
// marks the names between it and the apex as empty non-terminals, which
// exist (NODATA, not NXDOMAIN; RFC 8020).
func (z *zone) add(fqdn string, n name) {
	if old, ok := z.names[fqdn]; ok && old.kind != nameEmpty {
		return // the first one listed keeps it
	}
	z.names[fqdn] = n
	if _, parent, ok := strings.Cut(fqdn, "."); ok && parent != z.origin {
		z.markEmpty(parent)
	}
}

// markEmpty marks fqdn and the names above it up to the apex as empty
// non-terminals, where they hold nothing else.
func (z *zone) markEmpty(fqdn string) {
	for s := fqdn; s != z.origin && config.InZone(s, z.origin); {
		if _, ok := z.names[s]; !ok {
			z.names[s] = name{kind: nameEmpty}
		}
		_, parent, ok := strings.Cut(s, ".")
		if !ok {
			return
		}
		s = parent
	}
}

// lookup finds fqdn (lower case, no final dot): an exact name first, then
// the nearest name above it that is a POP's pinned name or a wildcard
// alias's suffix.
func (z *zone) lookup(fqdn string) (name, bool) {
	if n, ok := z.names[fqdn]; ok && n.kind != nameEmpty {
		return n, true
	}
	for s := fqdn; ; {
		_, parent, ok := strings.Cut(s, ".")
		if !ok || !config.InZone(parent, z.origin) {
			break
		}
		if n, ok := z.names[parent]; ok && n.kind == namePinned {
			return n, true
		}
		if n, ok := z.wildcards[parent]; ok {
			return n, true
		}
		s = parent
	}
	if n, ok := z.names[fqdn]; ok {
		return n, true // an empty non-terminal
	}
	return name{}, false
}
