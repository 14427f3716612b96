package router_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkAnswer is the router's added latency per query, without the
// network: decode, place the client (geo lookup), choose the POP, encode.
func BenchmarkAnswer(b *testing.B) {
	f := startB(b)
	m := new(dns.Msg)
	m.SetQuestion("www.cdn.example.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(81, 2, 69, 0).To4()})
	wire, err := m.Pack()
	if err != nil {
		b.Fatal(err)
	}
	w := &discardWriter{}
	b.ReportAllocs()
	for b.Loop() {
		req := new(dns.Msg)
		if err := req.Unpack(wire); err != nil {
			b.Fatal(err)
		}
		f.r.ServeDNS(w, req)
	}
	if w.last == nil || len(w.last.Answer) != 2 {
		b.Fatalf("answer: %v", w.last)
	}
}

// BenchmarkUDP is queries per second over loopback UDP through the real
// server, 16 clients per GOMAXPROCS (-cpu 1: clients and server share
// one core, so this understates the server alone).
func BenchmarkUDP(b *testing.B) {
	f := startB(b)
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		c, err := dns.Dial("udp", f.addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		m := new(dns.Msg)
		m.SetQuestion("www.cdn.example.", dns.TypeA)
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(203, 0, 113, 0).To4()})
		for pb.Next() {
			if err := c.WriteMsg(m); err != nil {
				b.Error(err)
				return
			}
			resp, err := c.ReadMsg()
			if err != nil || len(resp.Answer) != 1 {
				b.Errorf("%v %v", resp, err)
				return
			}
		}
	})
}

type discardWriter struct {
	dns.ResponseWriter
	last *dns.Msg
}

func (w *discardWriter) RemoteAddr() net.Addr {
	return &net.UDPAddr{IP: netip.MustParseAddr("127.0.0.1").AsSlice(), Port: 5353}
}

func (w *discardWriter) WriteMsg(m *dns.Msg) error {
	if _, err := m.Pack(); err != nil {
		return err
	}
	w.last = m
	return nil
}
