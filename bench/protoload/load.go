package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/terncdn/tern/bench/loadstat"
)

// config is one run.
type config struct {
	url        string
	proto      string // h1, h2, h3
	serverName string // SNI
	conns      int
	streams    int           // requests in flight per connection
	duration   time.Duration // how long workers start requests
	count      int64         // requests to send at most; 0: no bound
	wantLen    int64         // expected body length; -1 to not check
	// roots is nil in the command (the server's certificate is not
	// verified; a benchmark's is self-signed). Tests set it.
	roots *tlsRoots
}

// tlsRoots lets tests trust their server's certificate.
type tlsRoots struct{ config *tls.Config }

// transport is one connection's client for cfg.proto.
func transport(cfg config) (http.RoundTripper, func(), error) {
	tc := &tls.Config{ServerName: cfg.serverName, InsecureSkipVerify: true}
	if cfg.roots != nil {
		tc = cfg.roots.config.Clone()
		tc.ServerName = cfg.serverName
	}
	switch cfg.proto {
	case "h1", "h2":
		t := &http.Transport{
			TLSClientConfig:     tc,
			MaxIdleConnsPerHost: 1,
			MaxConnsPerHost:     1,
			DisableCompression:  true,
			ForceAttemptHTTP2:   cfg.proto == "h2",
		}
		var p http.Protocols
		if cfg.proto == "h1" {
			p.SetHTTP1(true)
		} else {
			p.SetHTTP2(true)
		}
		t.Protocols = &p
		return t, t.CloseIdleConnections, nil
	case "h3":
		tc.NextProtos = []string{http3.NextProtoH3}
		t := &http3.Transport{
			TLSClientConfig:    tc,
			DisableCompression: true,
			QUICConfig:         &quic.Config{MaxIdleTimeout: 30 * time.Second},
		}
		return t, func() { t.Close() }, nil
	}
	return nil, nil, fmt.Errorf("-proto %q: want h1, h2 or h3", cfg.proto)
}

// run makes the connections (c for h2 and h3, c x m for h1), checks each
// with one request, then sends requests from c x m workers until the time
// or the count is up. Failed requests are counted, not returned; only a
// bad configuration or a connection that cannot be made is an error.
func run(cfg config) (*loadstat.Result, error) {
	if cfg.conns < 1 || cfg.streams < 1 {
		return nil, fmt.Errorf("-c %d -m %d: want at least 1 of each", cfg.conns, cfg.streams)
	}
	if cfg.duration <= 0 {
		return nil, fmt.Errorf("-d %s: want a positive duration", cfg.duration)
	}
	nt, per := cfg.conns, cfg.streams
	if cfg.proto == "h1" {
		nt, per = cfg.conns*cfg.streams, 1
	}
	rts := make([]http.RoundTripper, nt)
	for i := range rts {
		rt, closeIdle, err := transport(cfg)
		if err != nil {
			return nil, err
		}
		defer closeIdle()
		rts[i] = rt
		// The connection and its handshake, before the clock starts.
		var t loadstat.Tally
		one(cfg, rt, &t)
		if t.FirstErr != nil {
			return nil, fmt.Errorf("first request on connection %d: %w", i+1, t.FirstErr)
		}
	}

	var sent atomic.Int64
	start := time.Now()
	stop := start.Add(cfg.duration)
	tallies := make([]*loadstat.Tally, nt*per)
	var wg sync.WaitGroup
	for i := range tallies {
		t := &loadstat.Tally{}
		tallies[i] = t
		wg.Go(func() {
			for time.Now().Before(stop) && (cfg.count == 0 || sent.Add(1) <= cfg.count) {
				one(cfg, rts[i/per], t)
			}
		})
	}
	wg.Wait()
	r := loadstat.Merge(time.Since(start), tallies...)
	return r, nil
}

// one request: GET, the whole body, checked.
func one(cfg config, rt http.RoundTripper, t *loadstat.Tally) {
	fail := t.Fail
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.url, nil)
	if err != nil {
		fail(err)
		return
	}
	t0 := time.Now()
	resp, err := rt.RoundTrip(req)
	if err != nil {
		fail(fmt.Errorf("GET %s: %w", cfg.url, err))
		return
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	t.Bytes += n
	t.See(resp.Proto)
	switch {
	case err != nil:
		fail(fmt.Errorf("GET %s: body: %w", cfg.url, err))
	case resp.StatusCode != http.StatusOK:
		fail(fmt.Errorf("GET %s: status %d", cfg.url, resp.StatusCode))
	case cfg.wantLen >= 0 && n != cfg.wantLen:
		fail(fmt.Errorf("GET %s: %d body bytes, want %d", cfg.url, n, cfg.wantLen))
	default:
		t.Good(time.Since(t0))
	}
}

// protocolLine says which protocols answered, and the first error.
func protocolLine(r *loadstat.Result, cfg config) string {
	var protos []string
	for p, n := range r.Seen {
		protos = append(protos, fmt.Sprintf("%s:%d", p, n))
	}
	slices.Sort(protos)
	conns, streams := cfg.conns, cfg.streams
	if cfg.proto == "h1" {
		conns, streams = cfg.conns*cfg.streams, 1
	}
	s := fmt.Sprintf("PROTOCOL proto=%s conns=%d streams=%d answers=%v", cfg.proto, conns, streams, protos)
	if r.FirstErr != nil {
		s += fmt.Sprintf(" first_err=%q", r.FirstErr.Error())
	}
	return s
}
