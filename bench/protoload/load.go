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

// result sums up a run.
type result struct {
	ok, errors int
	bytes      int64
	elapsed    time.Duration
	latencies  []time.Duration // of the good answers, sorted
	protos     map[string]int  // the answers' protocols, e.g. "HTTP/3.0"
	firstErr   error
}

type tally struct {
	ok, errors int
	bytes      int64
	latencies  []time.Duration
	protos     map[string]int
	firstErr   error
}

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
func run(cfg config) (*result, error) {
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
		var t tally
		t.protos = map[string]int{}
		one(cfg, rt, &t)
		if t.firstErr != nil {
			return nil, fmt.Errorf("first request on connection %d: %w", i+1, t.firstErr)
		}
	}

	var sent atomic.Int64
	start := time.Now()
	stop := start.Add(cfg.duration)
	tallies := make([]tally, nt*per)
	var wg sync.WaitGroup
	for i := range tallies {
		wg.Add(1)
		go func(rt http.RoundTripper, t *tally) {
			defer wg.Done()
			t.protos = map[string]int{}
			for time.Now().Before(stop) && (cfg.count == 0 || sent.Add(1) <= cfg.count) {
				one(cfg, rt, t)
			}
		}(rts[i/per], &tallies[i])
	}
	wg.Wait()
	r := &result{elapsed: time.Since(start), protos: map[string]int{}}
	for _, t := range tallies {
		r.ok += t.ok
		r.errors += t.errors
		r.bytes += t.bytes
		r.latencies = append(r.latencies, t.latencies...)
		for k, v := range t.protos {
			r.protos[k] += v
		}
		if r.firstErr == nil {
			r.firstErr = t.firstErr
		}
	}
	slices.Sort(r.latencies)
	return r, nil
}

// one request: GET, the whole body, checked.
func one(cfg config, rt http.RoundTripper, t *tally) {
	fail := func(err error) {
		t.errors++
		if t.firstErr == nil {
			t.firstErr = err
		}
	}
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
	t.bytes += n
	t.protos[resp.Proto]++
	switch {
	case err != nil:
		fail(fmt.Errorf("GET %s: body: %w", cfg.url, err))
	case resp.StatusCode != http.StatusOK:
		fail(fmt.Errorf("GET %s: status %d", cfg.url, resp.StatusCode))
	case cfg.wantLen >= 0 && n != cfg.wantLen:
		fail(fmt.Errorf("GET %s: %d body bytes, want %d", cfg.url, n, cfg.wantLen))
	default:
		t.ok++
		t.latencies = append(t.latencies, time.Since(t0))
	}
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (r *result) resultLine() string {
	var maxLat time.Duration
	if len(r.latencies) > 0 {
		maxLat = r.latencies[len(r.latencies)-1]
	}
	return fmt.Sprintf("RESULT requests=%d bytes=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d errors=%d",
		r.ok, r.bytes, r.elapsed.Microseconds(), percentile(r.latencies, 50).Microseconds(),
		percentile(r.latencies, 99).Microseconds(), maxLat.Microseconds(), r.errors)
}

func (r *result) protocolLine(cfg config) string {
	var protos []string
	for p, n := range r.protos {
		protos = append(protos, fmt.Sprintf("%s:%d", p, n))
	}
	slices.Sort(protos)
	conns, streams := cfg.conns, cfg.streams
	if cfg.proto == "h1" {
		conns, streams = cfg.conns*cfg.streams, 1
	}
	s := fmt.Sprintf("PROTOCOL proto=%s conns=%d streams=%d answers=%v", cfg.proto, conns, streams, protos)
	if r.firstErr != nil {
		s += fmt.Sprintf(" first_err=%q", r.firstErr.Error())
	}
	return s
}
