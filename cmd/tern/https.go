package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/terncdn/tern/certs"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/edge"
)

// edgeHTTPS is the edge's HTTPS side (edge.listen_tls): HTTP/1.1 and
// HTTP/2 over TLS on TCP, HTTP/3 on UDP at the same port, and the
// certificates both present.
type edgeHTTPS struct {
	store *certs.Store
	tcp   *http.Server
	h3    *http3.Server  // nil: edge.tls.http3 is off
	udp   net.PacketConn // HTTP/3's socket
	addr  string         // the bound TCP address
	acme  *certs.ACME    // nil: no edge.tls.acme
	// acmeCtx bounds the ACME manager's Manage calls (its own background
	// work stops at shutdown).
	acmeCtx context.Context
}

// newEdgeHTTPS loads c's certificates (edge.tls.default_certificate and
// the distributions'); an error names the field whose files are wrong.
func newEdgeHTTPS(c *config.Config, dataDir string) (*edgeHTTPS, error) {
	store, err := certs.New(c)
	if err != nil {
		return nil, fmt.Errorf("certificates:\n%w", err)
	}
	e := &edgeHTTPS{store: store, acmeCtx: context.Background()}
	if ac := c.Edge.TLS.ACME; ac != nil {
		storage, err := ac.StorageDir(dataDir)
		if err != nil {
			return nil, err
		}
		// The CA's requests to ports 80 and 443 arrive at edge.listen and
		// edge.listen_tls (directly or through a port forward).
		host, httpPort := splitListen(c.Edge.Listen)
		_, tlsPort := splitListen(c.Edge.ListenTLS)
		e.acme, err = certs.NewACME(certs.ACMEOptions{
			DirectoryURL:  ac.DirectoryURL,
			Email:         ac.Email,
			CARootsFile:   ac.CARoots,
			AgreeTOS:      ac.AgreeTOS,
			Storage:       storage,
			Challenges:    ac.ACMEChallenges(),
			RenewBefore:   ac.RenewBefore.Std(),
			RenewInterval: ac.RenewInterval.Std(),
			HTTPPort:      httpPort,
			TLSPort:       tlsPort,
			ListenHost:    host,
		})
		if err != nil {
			return nil, fmt.Errorf("edge.tls.acme: %w", err)
		}
		store.SetACME(e.acme)
	}
	return e, nil
}

// splitListen is a listen address's host and port (0 if none).
func splitListen(addr string) (string, int) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0
	}
	n, _ := strconv.Atoi(port)
	return host, n
}

// plainHandler is the handler of the plain-HTTP listener: h, with the
// CA's http-01 requests answered first when ACME is on.
func (e *edgeHTTPS) plainHandler(h http.Handler) http.Handler {
	if e == nil || e.acme == nil {
		return h
	}
	return e.acme.HTTPChallengeHandler(h)
}

// start binds edge.listen_tls (TCP, and UDP for HTTP/3) and serves srv
// there until shutdown; serving errors go to errc. The certificates are
// kept current (reload, OCSP, ticket keys) while ctx lasts. The listener
// settings are c's; the certificates follow apply.
func (e *edgeHTTPS) start(ctx context.Context, c *config.Config, srv *edge.Server, errc chan<- error) error {
	store := e.store
	var err error
	ln, err := net.Listen("tcp", c.Edge.ListenTLS)
	if err != nil {
		return fmt.Errorf("edge listen_tls: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	t := &c.Edge.TLS
	h2 := &t.HTTP2
	e.addr = ln.Addr().String()
	e.tcp = &http.Server{
		Handler:           srv,
		TLSConfig:         store.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    int(h2.MaxHeaderListSize),
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          h2.MaxConcurrentStreams,
			MaxReadFrameSize:              int(h2.MaxReadFrameSize),
			MaxReceiveBufferPerStream:     int(h2.StreamWindow),
			MaxReceiveBufferPerConnection: int(h2.ConnectionWindow),
			// Idle connections are checked: a viewer gone without a FIN
			// does not hold its streams until IdleTimeout.
			SendPingTimeout: 30 * time.Second,
			PingTimeout:     15 * time.Second,
		},
		ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug),
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	e.tcp.Protocols = &protos
	if t.HTTP3Enabled() {
		host, _, _ := net.SplitHostPort(c.Edge.ListenTLS)
		e.udp, err = net.ListenPacket("udp", net.JoinHostPort(host, fmt.Sprint(port)))
		if err != nil {
			ln.Close()
			return fmt.Errorf("edge listen_tls (UDP, for HTTP/3; edge.tls.http3: false turns it off): %w", err)
		}
		e.h3 = &http3.Server{
			Handler:        srv,
			TLSConfig:      store.TLSConfig(),
			MaxHeaderBytes: int(h2.MaxHeaderListSize),
			IdleTimeout:    120 * time.Second,
			QUICConfig: &quic.Config{
				MaxIncomingStreams: int64(h2.MaxConcurrentStreams),
				// No 0-RTT: early data can be replayed, and requests pass
				// to origins (RFC 9114 §10.9, RFC 8470).
				Allow0RTT: false,
			},
			Logger: slog.Default(),
		}
	}
	go store.Run(ctx, certs.PollInterval)
	go func() {
		if err := e.tcp.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("edge https: %w", err)
		}
	}()
	if e.h3 != nil {
		go func() {
			if err := e.h3.Serve(e.udp); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, quic.ErrServerClosed) {
				errc <- fmt.Errorf("edge http/3: %w", err)
			}
		}()
	}
	if pp := c.Edge.TLS.PublicPort; pp != 0 {
		port = pp // viewers come through a port forward
	}
	srv.SetHTTPS(port, e.h3 != nil)
	if e.acme != nil {
		// Orders start once both listeners answer the CA's challenges.
		e.acmeCtx = ctx
		if err := e.acme.Manage(ctx, certs.ACMENames(c)); err != nil {
			return err
		}
	}
	return nil
}

// apply puts a new configuration's certificates in service; an error
// (a file that does not load) refuses the configuration. An edge without
// an HTTPS listener does not read certificate files.
func (e *edgeHTTPS) apply(c *config.Config) error {
	if e == nil {
		return nil
	}
	if err := e.store.Apply(c); err != nil {
		return err
	}
	if e.acme != nil {
		return e.acme.Manage(e.acmeCtx, certs.ACMENames(c))
	}
	return nil
}

// applyNode puts c in service on this node: the certificates, then the
// edge. What the edge would refuse (a file an origin names that does not
// load) is checked before the certificates change, so that a refused
// configuration leaves both as they were.
func applyNode(c *config.Config, srv *edge.Server, https *edgeHTTPS) error {
	if https != nil {
		if err := edge.Check(c); err != nil {
			return fmt.Errorf("edge: apply config: %w", err)
		}
		if err := https.apply(c); err != nil {
			return err
		}
	}
	return srv.Apply(c)
}

// h3ShutdownGrace bounds HTTP/3's graceful shutdown, as serve's shutdown
// bounds the TCP servers'.
const h3ShutdownGrace = 10 * time.Second

// shutdown stops HTTP/3 (the TCP server is in serve's list of servers).
// Requests in flight get until ctx ends, and at most h3ShutdownGrace;
// then their connections are closed. Unbounded, one viewer that stops
// reading a response (its flow control window stays shut, its
// connection alive) would keep the process from ever exiting.
func (e *edgeHTTPS) shutdown(ctx context.Context) {
	if e != nil && e.acme != nil {
		e.acme.Close()
	}
	if e == nil || e.h3 == nil || e.udp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, h3ShutdownGrace)
	defer cancel()
	_ = e.h3.Shutdown(ctx)
	e.udp.Close()
}

// demoListenTLS is where the built-in example serves HTTPS.
const demoListenTLS = "127.0.0.1:8443"

// demoTLSNames are the names the demo's self-signed certificate covers:
// loopback, and the router's zone with the demo's generated name.
var demoTLSNames = []string{"localhost", "127.0.0.1", "::1", "cdn.localhost", "*.cdn.localhost"}

// makeDemoTLS makes (or finds) the built-in example's self-signed
// certificate under the data dir. Without a data dir, or with
// --listen-tls off, the demo serves no HTTPS.
func (f *serveFlags) makeDemoTLS() error {
	if f.config != "" || f.edgeMode() || f.dataDir == "" || f.listenTLS == "off" {
		return nil
	}
	cert, key, err := certs.SelfSigned(filepath.Join(f.dataDir, "tls"), demoTLSNames)
	if err != nil {
		return fmt.Errorf("the demo's self-signed certificate: %w", err)
	}
	f.demoTLS = [2]string{cert, key}
	return nil
}

// demoHTTPS reports whether the demo's HTTPS is on by default rather than
// asked for (so that a port taken only warns).
func (f serveFlags) demoHTTPS() bool { return f.demoTLS[0] != "" && f.listenTLS == "" }

// overrideTLS puts --listen-tls and, for the built-in example, its HTTPS
// listener and self-signed certificate into c.
func (f serveFlags) overrideTLS(c *config.Config) {
	if f.demoTLS[0] != "" {
		if c.Edge.ListenTLS == "" {
			c.Edge.ListenTLS = demoListenTLS
		}
		if c.Edge.TLS.DefaultCertificate == nil {
			c.Edge.TLS.DefaultCertificate = &config.Certificate{CertFile: f.demoTLS[0], KeyFile: f.demoTLS[1]}
		}
	}
	switch f.listenTLS {
	case "":
	case "off":
		c.Edge.ListenTLS = ""
	default:
		c.Edge.ListenTLS = f.listenTLS
	}
}

// httpsBanner is the banner's line for the HTTPS listener ("" if none).
func httpsBanner(c *config.Config, addr string) string {
	if addr == "" {
		return ""
	}
	protos := "HTTP/1.1, HTTP/2"
	if c.Edge.TLS.HTTP3Enabled() {
		protos += ", HTTP/3 (udp)"
	}
	return fmt.Sprintf("  https:   https://%s/ (%s; security policy %s)\n", reachableAddr(addr), protos, c.Edge.TLS.SecurityPolicy)
}

// reachableAddr is host:port as this machine reaches it (see reachable).
func reachableAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return reachable(host) + ":" + port
}
