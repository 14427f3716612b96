package certs

import (
	"crypto/tls"
	"fmt"
	"net"
	"testing"

	"github.com/terncdn/tern/certs/certstest"
	"github.com/terncdn/tern/config"
)

// benchStore is a Store with a default certificate and n distributions,
// each with its own certificate and alias d<i>.bench.test, as an edge
// serving many sites has.
func benchStore(b *testing.B, n int) *Store {
	b.Helper()
	ca := certstest.NewCA(b)
	def := ca.Issue(b, []string{"bench.test"}, certstest.Options{})
	c := &config.Config{}
	c.Edge.ListenTLS = "127.0.0.1:0"
	c.Edge.TLS.DefaultCertificate = &config.Certificate{CertFile: def.CertFile, KeyFile: def.KeyFile}
	for i := range n {
		name := fmt.Sprintf("d%d.bench.test", i)
		cert := ca.Issue(b, []string{name}, certstest.Options{})
		c.Distributions = append(c.Distributions, &config.Distribution{
			ID: fmt.Sprintf("d%d", i), Aliases: []string{name},
			Certificate:          &config.Certificate{CertFile: cert.CertFile, KeyFile: cert.KeyFile},
			Origins:              []*config.Origin{{ID: "o", DomainName: "127.0.0.1"}},
			DefaultCacheBehavior: &config.CacheBehavior{TargetOriginID: "o"},
		})
	}
	if err := c.Provision(); err != nil {
		b.Fatal(err)
	}
	s, err := New(c)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkHandshake is one full TLS 1.3 handshake (X25519, ECDSA P-256,
// no resumption), client and server, over an in-memory connection: with
// the store's configuration (security policy and certificate chosen per
// handshake from the SNI among 1000 distributions) against a bare
// tls.Config holding the one certificate. The difference is what the
// store adds to each viewer's handshake.
func BenchmarkHandshake(b *testing.B) {
	s := benchStore(b, 1000)
	bare := &tls.Config{
		Certificates: []tls.Certificate{*s.idx.Load().def.cert.Load()},
		NextProtos:   []string{"h2", "http/1.1"},
	}
	for _, tc := range []struct {
		name string
		conf *tls.Config
		sni  string
	}{
		{"bare", bare, "bench.test"},
		{"store/default", s.TLSConfig(), "bench.test"},
		{"store/alias", s.TLSConfig(), "d500.bench.test"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			client := &tls.Config{
				ServerName:         tc.sni,
				InsecureSkipVerify: true, // the signature is still checked
				CurvePreferences:   []tls.CurveID{tls.X25519},
				NextProtos:         []string{"http/1.1"},
			}
			b.ReportAllocs()
			for b.Loop() {
				cc, sc := net.Pipe()
				errc := make(chan error, 1)
				go func() {
					srv := tls.Server(sc, tc.conf)
					errc <- srv.Handshake()
					srv.Close()
				}()
				cl := tls.Client(cc, client)
				err := cl.Handshake()
				if err == nil && cl.ConnectionState().DidResume {
					b.Fatal("resumed: want full handshakes")
				}
				// The server's session ticket and close_notify come after
				// the handshake; net.Pipe has no buffer, so read them.
				go func() {
					var buf [512]byte
					for {
						if _, err := cc.Read(buf[:]); err != nil {
							return
						}
					}
				}()
				if serr := <-errc; err == nil {
					err = serr
				}
				cc.Close()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetCertificate is the store's part of a handshake alone: the
// security policy and the certificate for a server name.
func BenchmarkGetCertificate(b *testing.B) {
	s := benchStore(b, 1000)
	for _, sni := range []string{"d500.bench.test", "D500.Bench.Test.", "unknown.example", ""} {
		b.Run(fmt.Sprintf("sni=%q", sni), func(b *testing.B) {
			hello := &tls.ClientHelloInfo{ServerName: sni}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.configForClient(hello); err != nil {
					b.Fatal(err)
				}
				if c, err := s.GetCertificate(hello); err != nil || c == nil {
					b.Fatal(c, err)
				}
			}
		})
	}
}
