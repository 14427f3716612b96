package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// Answer sizes.
const (
	ednsSize   = 1232 // what the router advertises (the DNS flag day 2020 size)
	maxUDPSize = 4096 // the most it sends over UDP, whatever a client offers
	soaTTL     = 3600 // SOA and NS records at the apex
)

// ServeDNS answers one query (it makes Router a dns.Handler).
func (r *Router) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := r.answer(req, remoteAddr(w.RemoteAddr()))
	if resp == nil {
		return // not a query: no answer
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = min(max(int(opt.UDPSize()), dns.MinMsgSize), maxUDPSize)
		}
		// Truncate drops what does not fit and sets TC, so that the client
		// asks again over TCP.
		resp.Truncate(size)
	}
	if err := w.WriteMsg(resp); err != nil {
		slog.Debug("dns answer not sent", "client", w.RemoteAddr(), "error", err)
	}
}

func remoteAddr(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// answer makes the response to req from a resolver at from; nil for a
// message that is itself a response.
func (r *Router) answer(req *dns.Msg, from netip.Addr) *dns.Msg {
	if req.Response {
		return nil
	}
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = false

	opt := req.IsEdns0()
	var ecs *dns.EDNS0_SUBNET
	if opt != nil {
		if opt.Version() != 0 {
			resp.Authoritative = false
			resp.SetEdns0(ednsSize, false)
			resp.Rcode = dns.RcodeBadVers // RFC 6891 §6.1.3
			return resp
		}
		for _, o := range opt.Option {
			if s, ok := o.(*dns.EDNS0_SUBNET); ok {
				ecs = s
			}
		}
	}
	client := from
	if ecs != nil {
		ip, ok := subnetAddr(ecs)
		if !ok {
			resp.Authoritative = false
			resp.Rcode = dns.RcodeFormatError // RFC 7871 §7.1.1
			resp.SetEdns0(ednsSize, false)
			return resp
		}
		// A source prefix of 0 asks that the client's subnet not be used
		// (RFC 7871 §7.1.2): the resolver's address places it.
		if ecs.SourceNetmask > 0 {
			client = ip
		}
	}
	scoped := false
	switch {
	case req.Opcode != dns.OpcodeQuery:
		resp.Authoritative = false
		resp.Rcode = dns.RcodeNotImplemented
	case len(req.Question) != 1:
		resp.Authoritative = false
		resp.Rcode = dns.RcodeFormatError
	default:
		scoped = r.answerQuestion(resp, req.Question[0], client)
	}
	if opt != nil {
		resp.SetEdns0(ednsSize, false)
		if ecs != nil {
			// The option goes back as it came, with the scope the answer
			// holds for: the whole source prefix when it depends on the
			// client's place, none when it does not (§7.2.1).
			echo := *ecs
			echo.SourceScope = 0
			if scoped {
				echo.SourceScope = ecs.SourceNetmask
			}
			resp.IsEdns0().Option = append(resp.IsEdns0().Option, &echo)
		}
	}
	return resp
}

// subnetAddr is the ECS option's address masked to its source prefix, or
// false when the option is malformed.
func subnetAddr(s *dns.EDNS0_SUBNET) (netip.Addr, bool) {
	ip, ok := netip.AddrFromSlice(s.Address)
	if !ok {
		return netip.Addr{}, false
	}
	bits := 0
	switch s.Family {
	case 1:
		ip, bits = ip.Unmap(), 32
		if !ip.Is4() {
			return netip.Addr{}, false
		}
	case 2:
		bits = 128
		if ip.Is4() {
			ip = netip.AddrFrom16(ip.As16())
		}
	default:
		return netip.Addr{}, false
	}
	if int(s.SourceNetmask) > bits {
		return netip.Addr{}, false
	}
	p, err := ip.Prefix(int(s.SourceNetmask))
	if err != nil {
		return netip.Addr{}, false
	}
	return p.Addr(), true
}

// answerQuestion fills resp for q, and reports whether the answer depends
// on the client's place.
func (r *Router) answerQuestion(resp *dns.Msg, q dns.Question, client netip.Addr) (scoped bool) {
	z := r.zone.Load()
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		resp.Authoritative = false
		resp.Rcode = dns.RcodeRefused
		return false
	}
	fqdn := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	if !inZone(fqdn, z.origin) {
		// Not ours: an authoritative-only server refuses (RFC 8906 §3.1.3.1).
		resp.Authoritative = false
		resp.Rcode = dns.RcodeRefused
		return false
	}
	n, ok := z.lookup(fqdn)
	if !ok {
		resp.Rcode = dns.RcodeNameError
		resp.Ns = append(resp.Ns, z.soa(true))
		return false
	}
	switch n.kind {
	case nameApex:
		switch q.Qtype {
		case dns.TypeSOA:
			resp.Answer = append(resp.Answer, z.soa(false))
		case dns.TypeNS:
			for _, ns := range z.nameservers {
				resp.Answer = append(resp.Answer, &dns.NS{Hdr: z.hdr(q.Name, dns.TypeNS, soaTTL), Ns: ns})
			}
			resp.Extra = append(resp.Extra, z.glue()...)
		case dns.TypeANY:
			// RFC 8482: one record set is enough.
			resp.Answer = append(resp.Answer, z.soa(false))
		}
	case nameServer:
		resp.Answer = appendAddrs(resp.Answer, z, q, n.addrs, z.ttl)
	case namePinned:
		// The POP's own name, whatever its health or the client's place:
		// the HTTP mode sent the client there on purpose.
		resp.Answer = appendPOP(resp.Answer, z, q, n.pop)
	case nameDistribution:
		if q.Qtype == dns.TypeA || q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY {
			resp.Answer = appendPOP(resp.Answer, z, q, r.choose(z, client))
			scoped = true
		}
	}
	if len(resp.Answer) == 0 {
		// NODATA: the name exists without records of this type.
		resp.Ns = append(resp.Ns, z.soa(true))
	}
	return scoped
}

// appendPOP appends p's addresses of q's type (A, AAAA, or both for ANY).
func appendPOP(rrs []dns.RR, z *zone, q dns.Question, p *pop) []dns.RR {
	if q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY {
		rrs = appendAddrs(rrs, z, dns.Question{Name: q.Name, Qtype: dns.TypeA}, p.v4, z.ttl)
	}
	if q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY {
		rrs = appendAddrs(rrs, z, dns.Question{Name: q.Name, Qtype: dns.TypeAAAA}, p.v6, z.ttl)
	}
	return rrs
}

// appendAddrs appends the addresses of q's type (A or AAAA) among addrs.
func appendAddrs(rrs []dns.RR, z *zone, q dns.Question, addrs []netip.Addr, ttl uint32) []dns.RR {
	for _, a := range addrs {
		switch {
		case a.Is4() && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY):
			b := a.As4()
			rrs = append(rrs, &dns.A{Hdr: z.hdr(q.Name, dns.TypeA, ttl), A: net.IP(b[:])})
		case a.Is6() && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
			b := a.As16()
			rrs = append(rrs, &dns.AAAA{Hdr: z.hdr(q.Name, dns.TypeAAAA, ttl), AAAA: net.IP(b[:])})
		}
	}
	return rrs
}

func (z *zone) hdr(name string, t uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

// soa is the zone's SOA record; in a negative answer its TTL is the
// negative caching time (RFC 2308 §3: the smaller of its TTL and MINIMUM).
func (z *zone) soa(negative bool) dns.RR {
	ttl := uint32(soaTTL)
	if negative {
		ttl = z.ttl
	}
	mname := z.origin + "."
	if len(z.nameservers) > 0 {
		mname = z.nameservers[0]
	}
	return &dns.SOA{Hdr: z.hdr(z.origin+".", dns.TypeSOA, ttl), Ns: mname, Mbox: "hostmaster." + z.origin + ".",
		Serial: z.serial, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: z.ttl}
}

// glue is the addresses of the name servers under the zone.
func (z *zone) glue() []dns.RR {
	var rrs []dns.RR
	for _, ns := range z.nameservers {
		if n, ok := z.names[strings.TrimSuffix(ns, ".")]; ok && n.kind == nameServer {
			rrs = appendAddrs(rrs, z, dns.Question{Name: ns, Qtype: dns.TypeANY}, n.addrs, soaTTL)
		}
	}
	return rrs
}

func inZone(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// ListenDNS binds addr for DNS over UDP and TCP, on the same port (the
// UDP one's when addr's port is 0).
func ListenDNS(addr string) (net.PacketConn, net.Listener, error) {
	_, port, _ := net.SplitHostPort(addr)
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("router listen %s (udp): %w", addr, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		// With port 0 the kernel picked a UDP port whose TCP twin may be
		// taken (by any connection's local port): pick another.
		if port == "0" && errors.Is(err, syscall.EADDRINUSE) && attempt < 20 {
			continue
		}
		return nil, nil, fmt.Errorf("router listen %s (tcp): %w", addr, err)
	}
}

// Serve answers DNS on pc (UDP) and ln (TCP) until ctx ends, then closes
// them.
func (r *Router) Serve(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	// Each server is shut down only once it started: a shutdown that
	// came first would fail and leave it serving.
	started := make(chan struct{}, 2)
	onStart := func() { started <- struct{}{} }
	udp := &dns.Server{PacketConn: pc, Net: "udp", Handler: r, NotifyStartedFunc: onStart}
	tcp := &dns.Server{Listener: ln, Net: "tcp", Handler: r, NotifyStartedFunc: onStart}
	errc := make(chan error, 2)
	go func() { errc <- udp.ActivateAndServe() }()
	go func() { errc <- tcp.ActivateAndServe() }()
	for range 2 {
		select {
		case <-started:
		case err := <-errc:
			pc.Close()
			ln.Close()
			return fmt.Errorf("router: %w", err)
		}
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("router: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(err, udp.ShutdownContext(sctx), tcp.ShutdownContext(sctx))
}
