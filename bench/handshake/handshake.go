package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/terncdn/tern/bench/loadstat"
)

// config is one run.
type config struct {
	addr       string        // host:port to connect to
	path       string        // request URI
	serverName string        // SNI and Host
	conns      int           // workers, one connection each at a time
	duration   time.Duration // how long workers start new connections
	wantLen    int64         // expected body length; -1 to not check
	curves     []tls.CurveID // offered key exchanges; nil for Go's defaults
	// sessions is nil in the command. Tests set it to show that a
	// resumed handshake is detected and counted.
	sessions tls.ClientSessionCache
}

// result sums up a run: the answers, and the handshakes.
type result struct {
	*loadstat.Result
	handshakes int // completed, full or resumed
	resumed    int // handshakes that resumed a session (must be 0)
}

// tally is one worker's count. Seen counts the negotiated parameters,
// e.g. "version=TLSv1.3".
type tally struct {
	loadstat.Tally
	handshakes, resumed int
}

func parseCurves(s string) ([]tls.CurveID, error) {
	if s == "default" {
		return nil, nil
	}
	var ids []tls.CurveID
	for _, name := range strings.Split(s, ",") {
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "x25519":
			ids = append(ids, tls.X25519)
		case "p256", "p-256", "prime256v1":
			ids = append(ids, tls.CurveP256)
		case "p384", "p-384", "secp384r1":
			ids = append(ids, tls.CurveP384)
		case "x25519mlkem768":
			ids = append(ids, tls.X25519MLKEM768)
		default:
			return nil, fmt.Errorf("-curves %q: unknown key exchange %q (want %s)", s, name, usage)
		}
	}
	return ids, nil
}

// run starts cfg.conns workers that each do one full handshake and one
// request per connection until cfg.duration has passed. Failures are
// counted, not returned; only a bad configuration is an error.
func run(cfg config) (*result, error) {
	if cfg.conns < 1 {
		return nil, fmt.Errorf("-c %d: want at least 1 connection", cfg.conns)
	}
	if cfg.duration <= 0 {
		return nil, fmt.Errorf("-d %s: want a positive duration", cfg.duration)
	}
	tlsConfig := &tls.Config{
		ServerName: cfg.serverName,
		// The benchmark's certificate is self-signed; the server's
		// CertificateVerify signature is still checked, so the server
		// signs each handshake as it would for a browser.
		InsecureSkipVerify: true,
		// No ClientSessionCache (cfg.sessions is nil but in tests): the
		// client offers no ticket or session ID, so every handshake is a
		// full one.
		ClientSessionCache: cfg.sessions,
		CurvePreferences:   cfg.curves,
		NextProtos:         []string{"http/1.1"},
	}
	req := []byte("GET " + cfg.path + " HTTP/1.1\r\nHost: " + cfg.serverName +
		"\r\nUser-Agent: tern-bench-handshake\r\nAccept: */*\r\nConnection: close\r\n\r\n")

	start := time.Now()
	stop := start.Add(cfg.duration)
	tallies := make([]tally, cfg.conns)
	var wg sync.WaitGroup
	for i := range tallies {
		wg.Go(func() {
			for time.Now().Before(stop) {
				one(cfg, tlsConfig, req, &tallies[i])
			}
		})
	}
	wg.Wait()
	answers := make([]*loadstat.Tally, len(tallies))
	r := &result{}
	for i := range tallies {
		answers[i] = &tallies[i].Tally
		r.handshakes += tallies[i].handshakes
		r.resumed += tallies[i].resumed
	}
	r.Result = loadstat.Merge(time.Since(start), answers...)
	return r, nil
}

// one connection: dial, full handshake, one GET, the whole answer, close.
func one(cfg config, tlsConfig *tls.Config, req []byte, t *tally) {
	fail := t.Fail
	t0 := time.Now()
	raw, err := net.DialTimeout("tcp", cfg.addr, 10*time.Second)
	if err != nil {
		fail(fmt.Errorf("dial %s: %w", cfg.addr, err))
		return
	}
	defer raw.Close()
	raw.SetDeadline(t0.Add(30 * time.Second))
	c := tls.Client(raw, tlsConfig)
	if err := c.Handshake(); err != nil {
		fail(fmt.Errorf("handshake with %s: %w", cfg.addr, err))
		return
	}
	t.handshakes++
	st := c.ConnectionState()
	if st.DidResume {
		t.resumed++
	}
	t.See("version=" + tls.VersionName(st.Version))
	t.See("cipher=" + tls.CipherSuiteName(st.CipherSuite))
	t.See("curve=" + st.CurveID.String())
	t.See("alpn=" + st.NegotiatedProtocol)
	if _, err := c.Write(req); err != nil {
		fail(fmt.Errorf("write request: %w", err))
		return
	}
	cr := &countingReader{r: c}
	resp, err := http.ReadResponse(bufio.NewReader(cr), nil)
	if err != nil {
		fail(fmt.Errorf("read response head: %w", err))
		return
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		fail(fmt.Errorf("read body: %w", err))
		return
	}
	t.Bytes += cr.n
	switch {
	case resp.StatusCode != http.StatusOK:
		fail(fmt.Errorf("GET %s: status %d", cfg.path, resp.StatusCode))
	case cfg.wantLen >= 0 && n != cfg.wantLen:
		fail(fmt.Errorf("GET %s: %d body bytes, want %d", cfg.path, n, cfg.wantLen))
	default:
		t.Good(time.Since(t0))
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (r *result) handshakeLine() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HANDSHAKES full=%d resumed=%d", r.handshakes-r.resumed, r.resumed)
	for _, k := range []string{"version", "cipher", "curve", "alpn"} {
		var vals []string
		for kv, n := range r.Seen {
			if v, ok := strings.CutPrefix(kv, k+"="); ok {
				if v == "" {
					v = "none"
				}
				vals = append(vals, fmt.Sprintf("%s:%d", v, n))
			}
		}
		slices.Sort(vals)
		fmt.Fprintf(&b, " %s=%s", k, strings.Join(vals, ","))
	}
	if r.FirstErr != nil {
		fmt.Fprintf(&b, " first_err=%q", r.FirstErr.Error())
	}
	return b.String()
}
