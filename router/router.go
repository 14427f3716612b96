// Package router is Tern's DNS request router: the authoritative name
// server for the distributions' names, which answers each viewer with the
// addresses of the nearest healthy POP. The viewer's place comes from its
// EDNS Client Subnet, else its resolver's address, looked up in a
// geo.Locator; a POP is healthy while at least one of its edges
// heartbeats and it is not drained, in the configuration or by an
// operator through the control plane.
package router

import (
	"context"
	"math"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/control"
	"github.com/terncdn/tern/geo"
)

// Health says which POPs have live edges.
type Health interface {
	// LiveEdges returns the number of live edges in each POP, and whether
	// the source has listened long enough that a POP it has not heard
	// from can be counted down (a control plane that just started has
	// not).
	LiveEdges() (live map[string]int, complete bool)
}

// HealthNoter is a Health that can say why its reading is not the live
// one (its source is away, say); Explain shows the note. "" is none.
type HealthNoter interface {
	HealthNote() string
}

// Options configure a Router.
type Options struct {
	// Config is the router section of the configuration (defaults
	// applied, valid).
	Config *config.Router
	// Locator places clients; nil places none (every viewer goes to the
	// default POP).
	Locator geo.Locator
	// Health is where POPs' liveness comes from; nil counts every POP
	// alive.
	Health Health
}

// HealthInterval is how often the router reads its Health source: a POP
// whose edges stopped heartbeating leaves answers within
// control.GoneAfter and this.
const HealthInterval = 250 * time.Millisecond

// Router answers DNS and HTTP requests with the best POP. It is safe for
// concurrent use.
type Router struct {
	locator geo.Locator
	health  Health

	zone   atomic.Pointer[zone]
	live   atomic.Pointer[liveness]
	mu     sync.Mutex // serialises SetConfig, SetDistributions and SetDrains
	dists  []*config.Distribution
	cfg    *config.Router
	drains map[string]control.Drain
	serial atomic.Uint32
}

// liveness is one reading of the Health source.
type liveness struct {
	edges    map[string]int
	complete bool
	note     string // HealthNoter's
}

// New returns a router for o. Run keeps its view of the POPs' health
// current.
func New(o Options) *Router {
	r := &Router{locator: o.Locator, health: o.Health, cfg: o.Config}
	r.serial.Store(uint32(time.Now().Unix()))
	r.rebuild()
	r.refreshHealth()
	return r
}

// SetConfig puts a new router section in service (a reload).
func (r *Router) SetConfig(c *config.Router) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cfg = c
	r.rebuild()
}

// SetDistributions replaces the distributions the router answers for.
func (r *Router) SetDistributions(ds []*config.Distribution) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dists = ds
	r.rebuild()
}

// SetDrains replaces the operator drains (by POP) the router follows: a
// drained POP leaves answers as one drained in the configuration does.
// Drains of POPs the configuration does not list are kept, for a
// reload that adds them.
func (r *Router) SetDrains(d map[string]control.Drain) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drains = d
	r.rebuild()
}

// Config returns the router section in service.
func (r *Router) Config() *config.Router {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg
}

// rebuild makes the zone from r.cfg, r.dists and r.drains; r.mu is held
// (or r is not shared yet). The zone's SOA serial moves forward with every change,
// so that secondaries see it.
func (r *Router) rebuild() {
	serial := max(r.serial.Add(1), uint32(time.Now().Unix()))
	r.serial.Store(serial)
	r.zone.Store(newZone(r.cfg, r.dists, r.drains, serial))
}

// Run reads the Health source every HealthInterval until ctx ends.
func (r *Router) Run(ctx context.Context) {
	t := time.NewTicker(HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.refreshHealth()
		}
	}
}

func (r *Router) refreshHealth() {
	l := &liveness{complete: true}
	if r.health != nil {
		l.edges, l.complete = r.health.LiveEdges()
		if n, ok := r.health.(HealthNoter); ok {
			l.note = n.HealthNote()
		}
	}
	r.live.Store(l)
}

// GeneratedName is the name a distribution gets under zone: its generated
// label (config.GeneratedLabel: "d" and the first 8 hex digits of the
// SHA-256 of its id), e.g. "d1a2b3c4.cdn.example".
func GeneratedName(distributionID, zone string) string {
	return config.GeneratedLabel(distributionID) + "." + strings.ToLower(strings.TrimSuffix(zone, "."))
}

// pop is a configured POP, ready for answers.
type pop struct {
	name     string
	lat, lon float64 // radians
	v4, v6   []netip.Addr
	// drained is router.pops[].drained; operator the control plane's
	// drain, if there is one.
	drained  bool
	operator *control.Drain
	httpHost string
	index    int
}

// healthy reports whether p takes viewers by l.
func (p *pop) healthy(l *liveness) bool {
	if p.out() {
		return false
	}
	if l.edges == nil && l.complete {
		return true // no health source: every POP counts alive
	}
	if n, heard := l.edges[p.name]; heard {
		return n > 0
	}
	// Not heard from: down, unless the source has not listened long
	// enough to know.
	return !l.complete
}

// out reports whether p is drained, by either source.
func (p *pop) out() bool { return p.drained || p.operator != nil }

// POPStatus is one POP as a decision saw it.
type POPStatus struct {
	Name string `json:"name"`
	// DistanceKm is the great-circle distance from the client, or from
	// the default POP when the client's place is unknown.
	DistanceKm float64 `json:"distance_km"`
	LiveEdges  int     `json:"live_edges"`
	// Drained is whether the POP is drained: by the configuration
	// (DrainedInConfig), by an operator (Operator), or both.
	Drained         bool           `json:"drained,omitempty"`
	DrainedInConfig bool           `json:"drained_in_config,omitempty"`
	Operator        *control.Drain `json:"operator_drain,omitempty"`
	Healthy         bool           `json:"healthy"`
}

// Decision explains which POP a client is sent to and why.
type Decision struct {
	// Name is the name asked for, and Distribution the id of the
	// distribution it belongs to ("" if the router does not know it).
	Name         string `json:"name"`
	Distribution string `json:"distribution,omitempty"`
	Client       string `json:"client"`
	// Located is whether the client's coordinates are known; Location is
	// what the geo database says of it.
	Located  bool         `json:"located"`
	Location geo.Location `json:"location"`
	// POPs are every POP, nearest first.
	POPs []POPStatus `json:"pops"`
	// POP is the chosen one; Reason says why.
	POP    string `json:"pop"`
	Reason string `json:"reason"`
	// Addresses are what a DNS answer would hold.
	Addresses []string `json:"addresses"`
	// Redirect is, for a distribution's name when the router's HTTP mode
	// is on, the host its 302 sends the client to ("<d-label>.<the POP's
	// http_host>"); the path, the query and (unless http_host has one) the
	// port are the request's.
	Redirect string `json:"redirect,omitempty"`
}

// choose returns the POP for a client at ip: the nearest healthy one by
// great-circle distance, the client taken to be at the default POP when
// its place is unknown. When none is healthy (every POP down, or the
// router's view of health lost) it is the nearest one not drained, and
// the nearest of all when every one is: a drain is an operator's word,
// liveness only a reading. It does not allocate.
func (r *Router) choose(z *zone, ip netip.Addr) *pop {
	return r.chooseFor(z, ip, dns.TypeANY)
}

// chooseFor is choose among the POPs that have addresses of qtype (A:
// IPv4, AAAA: IPv6, else any): a client asking for A whose nearest POP
// has only IPv6 addresses is sent to the nearest that has IPv4 ones, not
// given an empty answer. When no POP has any, it is choose's POP (and
// the answer NODATA).
func (r *Router) chooseFor(z *zone, ip netip.Addr, qtype uint16) *pop {
	lat, lon := z.def.lat, z.def.lon
	if r.locator != nil && ip.IsValid() {
		if loc, ok := r.locator.Lookup(ip); ok && loc.HasCoordinates {
			lat, lon = radians(loc.Latitude), radians(loc.Longitude)
		}
	}
	l := r.live.Load()
	var best, bestIn, bestAny *pop
	bestD, bestInD, bestAnyD := math.Inf(1), math.Inf(1), math.Inf(1)
	for _, p := range z.pops {
		if (qtype == dns.TypeA && len(p.v4) == 0) || (qtype == dns.TypeAAAA && len(p.v6) == 0) {
			continue
		}
		d := distance(lat, lon, p.lat, p.lon)
		if d < bestAnyD {
			bestAny, bestAnyD = p, d
		}
		if d < bestInD && !p.out() {
			bestIn, bestInD = p, d
		}
		if d < bestD && p.healthy(l) {
			best, bestD = p, d
		}
	}
	switch {
	case best != nil:
		return best
	case bestIn != nil:
		return bestIn
	case bestAny != nil:
		return bestAny
	default:
		return r.chooseFor(z, ip, dns.TypeANY) // no POP has the family
	}
}

// Explain decides for a client at ip asking for name, as the DNS answer
// would, and says why.
func (r *Router) Explain(ip netip.Addr, name string) Decision {
	z := r.zone.Load()
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	d := Decision{Name: name, Client: ip.String()}
	n, _ := z.lookup(name)
	if n.kind == nameDistribution {
		d.Distribution = n.distribution
	}
	lat, lon := z.def.lat, z.def.lon
	if r.locator != nil && ip.IsValid() {
		if loc, ok := r.locator.Lookup(ip); ok {
			d.Location = loc
			if loc.HasCoordinates {
				d.Located = true
				lat, lon = radians(loc.Latitude), radians(loc.Longitude)
			}
		}
	}
	l := r.live.Load()
	for _, p := range z.pops {
		d.POPs = append(d.POPs, POPStatus{Name: p.name, DistanceKm: math.Round(distance(lat, lon, p.lat, p.lon)*earthRadiusKm*10) / 10,
			LiveEdges: l.edges[p.name], Drained: p.out(), DrainedInConfig: p.drained, Operator: p.operator, Healthy: p.healthy(l)})
	}
	sort.SliceStable(d.POPs, func(i, j int) bool { return d.POPs[i].DistanceKm < d.POPs[j].DistanceKm })
	chosen := r.choose(z, ip)
	if n.kind == namePinned {
		chosen = n.pop
	}
	d.POP = chosen.name
	for _, a := range append(append([]netip.Addr(nil), chosen.v4...), chosen.v6...) {
		d.Addresses = append(d.Addresses, a.String())
	}
	var healthy, in int
	for _, s := range d.POPs {
		if s.Healthy {
			healthy++
		}
		if !s.Drained {
			in++
		}
	}
	if n.kind == nameDistribution && z.httpMode {
		d.Redirect = redirectHost(n.label, chosen.httpHost, "")
	}
	switch {
	case n.kind == namePinned:
		d.Reason = "pinned: " + name + " is (or is under) POP " + chosen.name + "'s own name, always answered with its addresses, whatever its health"
	case in == 0:
		d.Reason = "every POP is drained: the nearest of all (least bad)"
	case healthy == 0:
		d.Reason = "no POP is healthy: the nearest one not drained (least bad)"
	case !d.Located && chosen == z.def:
		d.Reason = "location unknown: the default POP"
	case !d.Located:
		d.Reason = "location unknown and the default POP " + z.def.name + " is not healthy: the healthy POP nearest to it"
	case d.POPs[0].Name == chosen.name:
		d.Reason = "the nearest POP"
	default:
		d.Reason = "the nearest healthy POP (nearer ones are down or drained)"
	}
	if !l.complete {
		d.Reason += "; health is still being learned, POPs not heard from yet count as healthy"
	}
	if l.note != "" {
		d.Reason += "; " + l.note
	}
	return d
}

const earthRadiusKm = 6371.0

func radians(deg float64) float64 { return deg * math.Pi / 180 }

// distance is the central angle between two points (radians in, radians
// out) by the haversine formula; times the earth's radius it is the
// great-circle distance.
func distance(lat1, lon1, lat2, lon2 float64) float64 {
	s1 := math.Sin((lat2 - lat1) / 2)
	s2 := math.Sin((lon2 - lon1) / 2)
	h := s1*s1 + math.Cos(lat1)*math.Cos(lat2)*s2*s2
	return 2 * math.Asin(math.Sqrt(min(h, 1)))
}
