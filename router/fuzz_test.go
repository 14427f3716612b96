package router_test

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// FuzzServeDNS feeds the query handler every message that decodes: it
// must not panic, and whatever it answers must encode, within the size
// the client can take over UDP.
func FuzzServeDNS(f *testing.F) {
	fx := startTB(f, routerYAML)
	for _, seed := range []func(m *dns.Msg){
		func(m *dns.Msg) { m.SetQuestion("www.cdn.example.", dns.TypeA) },
		func(m *dns.Msg) { m.SetQuestion("cdn.example.", dns.TypeNS) },
		func(m *dns.Msg) { m.SetQuestion("nope.cdn.example.", dns.TypeANY) },
		func(m *dns.Msg) {
			m.SetQuestion("a.img.cdn.example.", dns.TypeAAAA)
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET,
				Family: 1, SourceNetmask: 24, Address: net.IPv4(81, 2, 69, 0).To4()})
		},
		func(m *dns.Msg) {
			m.SetQuestion("www.cdn.example.", dns.TypeA)
			m.SetEdns0(512, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET,
				Family: 2, SourceNetmask: 56, Address: net.ParseIP("2001:db8:1::")})
		},
	} {
		m := new(dns.Msg)
		seed(m)
		wire, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire, true)
	}
	f.Fuzz(func(t *testing.T, wire []byte, udp bool) {
		req := new(dns.Msg)
		if err := req.Unpack(wire); err != nil {
			return
		}
		w := &recordWriter{udp: udp}
		fx.r.ServeDNS(w, req)
		if w.last == nil {
			return
		}
		out, err := w.last.Pack()
		if err != nil {
			t.Fatalf("the answer to %v does not encode: %v", req, err)
		}
		limit := dns.MaxMsgSize
		if udp {
			limit = 4096
		}
		if len(out) > limit {
			t.Fatalf("answer of %d bytes over %s", len(out), map[bool]string{true: "UDP", false: "TCP"}[udp])
		}
	})
}

// recordWriter keeps the last answer, from a UDP or a TCP client.
type recordWriter struct {
	dns.ResponseWriter
	udp  bool
	last *dns.Msg
}

func (w *recordWriter) RemoteAddr() net.Addr {
	if w.udp {
		return &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5353}
	}
	return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5353}
}

func (w *recordWriter) WriteMsg(m *dns.Msg) error {
	w.last = m
	return nil
}
