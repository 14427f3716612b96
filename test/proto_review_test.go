package test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/terncdn/tern/certs/certstest"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Conn is a raw HTTP/2 connection to the edge's TLS listener, for
// sending what a well-behaved client never does.
type h2Conn struct {
	*tls.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer
}

func dialH2(t *testing.T, tn *tlsNode) *h2Conn {
	t.Helper()
	conf := tn.tlsConfig("")
	conf.NextProtos = []string{"h2"}
	c, err := tls.Dial("tcp", tn.TLS, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	h := &h2Conn{Conn: c, fr: http2.NewFramer(c, c)}
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.enc = hpack.NewEncoder(&h.hb)
	if err := h.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return h
}

// headers encodes a GET of path on the connection's encoder.
func (h *h2Conn) headers(path string, extra ...string) []byte {
	h.hb.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "127.0.0.1"}, {":path", path}} {
		h.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for i := 0; i+1 < len(extra); i += 2 {
		h.enc.WriteField(hpack.HeaderField{Name: extra[i], Value: extra[i+1]})
	}
	return bytes.Clone(h.hb.Bytes())
}

// closedBy reads frames until the server ends the connection and says
// how: "GOAWAY <code>", "EOF", or "open" when the deadline came first.
func (h *h2Conn) closedBy(d time.Duration) string {
	h.SetReadDeadline(time.Now().Add(d))
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				return "open"
			}
			return "EOF"
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			return "GOAWAY " + g.ErrCode.String()
		}
	}
}

// TestH2RapidReset: a viewer that opens streams and resets them at once
// (CVE-2023-44487), each a cache miss, does not take the edge from other
// viewers: their requests keep being answered promptly throughout.
// (net/http runs at most max_concurrent_streams handlers per connection
// and closes it with ENHANCE_YOUR_CALM when 4x that many wait; with an
// origin this fast the handlers may keep up, so the connection may stay
// open. TestH2RapidResetOriginLoad has a slow origin.)
func TestH2RapidReset(t *testing.T) {
	tn := startTLSTern(t)
	c := tn.client(false)
	fetch(t, c, "https://"+tn.TLS+"/warm") // the probe's connection and pool

	h := dialH2(t, tn)
	var sent atomic.Int64
	var stop atomic.Bool
	floodStart := time.Now()
	floodDone := make(chan error, 1)
	go func() {
		for i := uint32(0); i < 20000 && !stop.Load(); i++ {
			id := 2*i + 1
			err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.headers(fmt.Sprintf("/rr/%d", i)), EndStream: true, EndHeaders: true})
			if err == nil {
				err = h.fr.WriteRSTStream(id, http2.ErrCodeCancel)
			}
			if err != nil {
				floodDone <- err
				return
			}
			sent.Add(1)
		}
		floodDone <- nil
	}()
	closed := make(chan string, 1)
	var closedAfter time.Duration
	go func() {
		how := h.closedBy(15 * time.Second)
		closedAfter = time.Since(floodStart)
		stop.Store(true)
		closed <- how
	}()

	// A viewer on another connection, during the flood.
	var worst time.Duration
	deadline := time.Now().Add(5 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		start := time.Now()
		resp, body := fetch(t, c, fmt.Sprintf("https://%s/probe/%d", tn.TLS, n))
		if took := time.Since(start); took > worst {
			worst = took
		}
		if resp.StatusCode != 200 || body != fmt.Sprintf("object /probe/%d", n) {
			t.Fatalf("probe %d during the flood: %d %q", n, resp.StatusCode, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	how := <-closed
	err := <-floodDone
	t.Logf("flood: %d HEADERS+RST_STREAM pairs sent, connection %s after %v (writer: %v); slowest probe %v",
		sent.Load(), how, closedAfter.Round(time.Millisecond), err, worst)
	if worst > 2*time.Second {
		t.Errorf("a viewer's request took %v during the flood", worst)
	}
	if how == "GOAWAY "+http2.ErrCodeEnhanceYourCalm.String() {
		return
	}
	// Still open: it must still work, each stream answered in turn.
	if !strings.HasPrefix(how, "GOAWAY") && how != "EOF" {
		resp, body := fetch(t, tn.client(false), "https://"+tn.TLS+"/rr/0")
		if resp.StatusCode != 200 || body != "object /rr/0" {
			t.Errorf("after the flood: %d %q", resp.StatusCode, body)
		}
	}
}

// TestH2ContinuationFlood: a HEADERS frame followed by CONTINUATION
// frames that never end the block (CVE-2023-45288) is cut off once the
// block passes the header list limit (max_header_list_size 32KiB here),
// not read, decoded and buffered without end.
func TestH2ContinuationFlood(t *testing.T) {
	tn := startTLSTern(t)
	h := dialH2(t, tn)
	closed := make(chan string, 1)
	go func() { closed <- h.closedBy(30 * time.Second) }()

	block := h.headers("/cont")
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndStream: true}); err != nil {
		t.Fatal(err)
	}
	// Each CONTINUATION adds a 1000-byte field (literal, not indexed).
	var field bytes.Buffer
	e := hpack.NewEncoder(&field)
	e.WriteField(hpack.HeaderField{Name: "x-flood", Value: strings.Repeat("a", 1000), Sensitive: true})
	var written int
	var werr error
	for written < 64<<20 {
		h.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if werr = h.fr.WriteContinuation(1, false, field.Bytes()); werr != nil {
			break
		}
		written += field.Len()
	}
	how := <-closed
	t.Logf("CONTINUATION flood: %d bytes written before the write failed (%v); connection %s", written, werr, how)
	if werr == nil {
		t.Errorf("the edge took %d bytes of one header block", written)
	}
	if !strings.HasPrefix(how, "GOAWAY") && how != "EOF" {
		t.Errorf("connection not closed: %s", how)
	}
	// Still serving.
	if resp, _ := fetch(t, tn.client(false), "https://"+tn.TLS+"/after"); resp.StatusCode != 200 {
		t.Errorf("after the flood: %d", resp.StatusCode)
	}
}

// TestHTTP3ShutdownBounded: on SIGTERM an HTTP/3 request in flight
// finishes (graceful shutdown), and the edge still stops within its
// shutdown grace when an HTTP/3 viewer holds a response open (here: it
// stopped reading a large body, so flow control keeps the stream from
// finishing). HTTP/3's graceful shutdown waits for every request; with no
// bound the process never exits, and a restart or deploy hangs on one
// slow viewer.
func TestHTTP3ShutdownBounded(t *testing.T) {
	ca := certstest.NewCA(t)
	cert := ca.Issue(t, []string{"127.0.0.1"}, certstest.Options{})
	big := bytes.Repeat([]byte("0123456789abcdef"), 2<<20) // 32MiB
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path == "/slow" {
			time.Sleep(2 * time.Second)
			io.WriteString(w, "slow but whole")
			return
		}
		w.Write(big)
	})
	tlsAddr := freeAddr(t)
	cfg := basicConfig(o, `    default_cache_behavior:
      target_origin_id: web
`)
	cfg = strings.Replace(cfg, "  node_id: e2e-1\n", `  node_id: e2e-1
  listen_tls: "`+tlsAddr+`"
  tls:
    default_certificate: {cert_file: "`+cert.CertFile+`", key_file: "`+cert.KeyFile+`"}
`, 1)
	n := startTern(t, cfg)

	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}
	defer tr.Close()
	c := &http.Client{Transport: tr}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+tlsAddr+"/big", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 1024)); err != nil || resp.Proto != "HTTP/3.0" {
		t.Fatalf("HTTP/3 download: %s %v", resp.Proto, err)
	}
	// The viewer stops reading here.

	// Another viewer's request is at the origin when SIGTERM comes.
	slow := make(chan string, 1)
	go func() {
		resp, err := c.Get("https://" + tlsAddr + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- fmt.Sprintf("%d %q %v", resp.StatusCode, b, err)
	}()
	time.Sleep(500 * time.Millisecond)

	start := time.Now()
	n.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- n.cmd.Wait() }()
	if got := <-slow; got != `200 "slow but whole" <nil>` {
		t.Errorf("an HTTP/3 request in flight at SIGTERM: %s", got)
	}
	// The TCP servers' grace, then HTTP/3's, each 10s at most.
	select {
	case <-exited:
		t.Logf("tern exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	case <-time.After(25 * time.Second):
		n.cmd.Process.Kill()
		<-exited
		t.Errorf("tern still running 25s after SIGTERM, with one HTTP/3 response in flight")
	}
}

// TestH2RapidResetOriginLoad: streams a viewer resets at once must not
// turn into origin requests beyond what max_concurrent_streams allows one
// connection. net/http bounds the handlers of one connection (the
// CVE-2023-44487 fix), but a miss's fill runs detached from the viewer:
// if every reset stream left a fill running, one connection could keep
// any number of origin requests in flight. Whole-object misses and, with
// a disk tier, range requests (fetched as slices) both count.
func TestH2RapidResetOriginLoad(t *testing.T) {
	for _, ranged := range []bool{false, true} {
		t.Run(fmt.Sprintf("range=%v", ranged), func(t *testing.T) {
			var inFlight, peak atomic.Int64
			o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				time.Sleep(time.Second)
				w.Header().Set("Cache-Control", "max-age=600")
				http.ServeContent(w, r, "", time.Time{}, strings.NewReader(strings.Repeat("x", 4096)))
			})
			var tn *tlsNode
			if ranged {
				tn = startTLSTernOrigin(t, o, "{max_concurrent_streams: 100}\n    # disk")
			} else {
				tn = startTLSTernOrigin(t, o, "{max_concurrent_streams: 100}")
			}
			var extra []string
			if ranged {
				extra = []string{"range", "bytes=0-99"}
			}
			h := dialH2(t, tn)
			const pairs = 5000
			for i := uint32(0); i < pairs; i++ {
				id := 2*i + 1
				if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.headers(fmt.Sprintf("/rr/%d", i), extra...), EndStream: true, EndHeaders: true}); err != nil {
					t.Logf("flood cut off after %d pairs: %v", i, err)
					break
				}
				if err := h.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
					t.Logf("flood cut off after %d pairs: %v", i, err)
					break
				}
			}
			how := h.closedBy(3 * time.Second)
			time.Sleep(2 * time.Second)
			t.Logf("%d pairs: origin requests %d, at most %d at once; flooding connection %s", pairs, o.total.Load(), peak.Load(), how)
			if p := peak.Load(); p > 150 {
				t.Errorf("one viewer connection with max_concurrent_streams 100 kept %d origin requests in flight at once by resetting its streams", p)
			}
		})
	}
}

// startTLSTernOrigin is a tern with an HTTPS listener (certificate for
// 127.0.0.1, edge.tls.http2 set to h2) in front of origin o, with the
// default cache behavior's YAML fields (besides target_origin_id) extra.
func startTLSTernOrigin(t *testing.T, o *origin, h2 string, extra ...string) *tlsNode {
	t.Helper()
	ca := certstest.NewCA(t)
	tn := &tlsNode{ca: ca, TLS: freeAddr(t)}
	tn.def = ca.Issue(t, []string{"127.0.0.1"}, certstest.Options{})
	cfg := basicConfig(o, `    default_cache_behavior:
      target_origin_id: web
`+strings.Join(extra, ""))
	cfg = strings.Replace(cfg, "  node_id: e2e-1\n", `  node_id: e2e-1
  listen_tls: "`+tn.TLS+`"
  tls:
    default_certificate: {cert_file: "`+tn.def.CertFile+`", key_file: "`+tn.def.KeyFile+`"}
    http2: `+h2+`
`, 1)
	if strings.HasSuffix(h2, "# disk") {
		// A disk tier, so that range requests are fetched as slices.
		cfg = strings.Replace(cfg, "    max_object_size: 4MiB\n", "    max_object_size: 4MiB\n    disk: {path: \"%DIR%/cache\", size: 256MiB}\n    slice_size: 1MiB\n", 1)
	}
	tn.node = startTern(t, cfg)
	return tn
}

// TestH2BodySmuggling: an HTTP/2 viewer's body that disagrees with its
// content-length, or a header value with CR LF, never reaches an
// HTTP/1.1 origin as more than the one request: the origin sees no
// request the viewer hid in a body or a field.
func TestH2BodySmuggling(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s %s cl=%d body=%q err=%v hdr=%q", r.Method, r.URL.Path, r.ContentLength, b, err, r.Header.Get("X-A")))
		mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "ok")
	})
	tn := startTLSTernOrigin(t, o, "{max_concurrent_streams: 100}",
		"      allowed_methods: [GET, HEAD, OPTIONS, PUT, PATCH, POST, DELETE]\n")
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

	cases := []struct {
		name   string
		fields []string
		data   []string
	}{
		{"more DATA than content-length", []string{"content-length", "5"}, []string{"hello" + smuggled}},
		{"more DATA than content-length, in two frames", []string{"content-length", "5"}, []string{"hello", smuggled}},
		{"less DATA than content-length", []string{"content-length", "100"}, []string{"hello"}},
		{"transfer-encoding", []string{"transfer-encoding", "chunked"}, []string{"0\r\n\r\n" + smuggled}},
		{"CR LF in a value", []string{"x-a", "b\r\n\r\n" + smuggled}, nil},
		{"NUL in a value", []string{"x-a", "b\x00c"}, nil},
		{"upper-case name", []string{"X-A", "b"}, nil},
	}
	for i, tc := range cases {
		h := dialH2(t, tn)
		h.hb.Reset()
		for _, f := range [][2]string{{":method", "POST"}, {":scheme", "https"}, {":authority", "127.0.0.1"}, {":path", fmt.Sprintf("/case/%d", i)}} {
			h.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		for j := 0; j+1 < len(tc.fields); j += 2 {
			h.enc.WriteField(hpack.HeaderField{Name: tc.fields[j], Value: tc.fields[j+1]})
		}
		h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h.hb.Bytes(), EndStream: len(tc.data) == 0, EndHeaders: true})
		for j, d := range tc.data {
			h.fr.WriteData(1, j == len(tc.data)-1, []byte(d))
		}
		status := ""
		h.SetReadDeadline(time.Now().Add(10 * time.Second))
	read:
		for {
			f, err := h.fr.ReadFrame()
			if err != nil {
				status = "read: " + err.Error()
				break
			}
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				status = f.PseudoValue("status")
				break read
			case *http2.RSTStreamFrame:
				status = "RST_STREAM " + f.ErrCode.String()
				break read
			case *http2.GoAwayFrame:
				status = "GOAWAY " + f.ErrCode.String()
				break read
			}
		}
		t.Logf("%s: %s", tc.name, status)
		if status == "200" {
			t.Errorf("%s: answered 200", tc.name)
		}
		h.Close()
	}
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		t.Logf("origin saw: %s", s)
		if strings.Contains(s, "/smuggled") || strings.Contains(s, "\r") {
			t.Errorf("the origin saw a smuggled request: %s", s)
		}
	}
}

// TestHTTP3Viewer: over HTTP/3, a request body reaches the origin whole;
// a large body and a range of it come back intact;
// a head beyond max_header_list_size is refused and the connection
// keeps serving; and a resumed connection is never accepted with 0-RTT
// early data (replayable requests would reach origins).
func TestHTTP3Viewer(t *testing.T) {
	var mu sync.Mutex
	bodies := map[string][]byte{}
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7 % 251)
	}
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Header().Set("Cache-Control", "max-age=600")
			w.Write(big)
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies[r.URL.Path] = b
		mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "object "+r.URL.Path)
	})
	tn := startTLSTernOrigin(t, o, "{max_header_list_size: 32KiB}",
		"      allowed_methods: [GET, HEAD, OPTIONS, PUT, PATCH, POST, DELETE]\n")
	sessions := tls.NewLRUClientSessionCache(8)
	var conns []*quic.Conn
	newClient := func() (*http.Client, *http3.Transport) {
		conf := tn.tlsConfig("")
		conf.ClientSessionCache = sessions
		tr := &http3.Transport{TLSClientConfig: conf,
			Dial: func(ctx context.Context, addr string, tlsCfg *tls.Config, cfg *quic.Config) (*quic.Conn, error) {
				c, err := quic.DialAddrEarly(ctx, addr, tlsCfg, cfg)
				if err == nil {
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
				return c, err
			}}
		return &http.Client{Transport: tr, Timeout: 20 * time.Second}, tr
	}
	c, tr := newClient()
	base := "https://" + tn.TLS

	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1MiB
	resp, err := c.Post(base+"/post", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	got := bodies["/post"]
	mu.Unlock()
	if resp.Proto != "HTTP/3.0" || resp.StatusCode != 200 || !bytes.Equal(got, body) {
		t.Errorf("POST over HTTP/3: %s %d, origin got %d bytes of %d", resp.Proto, resp.StatusCode, len(got), len(body))
	}

	// A large download, then a range of it from the cache.
	if resp, got := fetch(t, c, base+"/big"); resp.StatusCode != 200 || got != string(big) {
		t.Errorf("1MiB over HTTP/3: %d, %d bytes, intact %v", resp.StatusCode, len(got), got == string(big))
	}
	req, _ := http.NewRequest("GET", base+"/big", nil)
	// The client asked for gzip above, as it does unless it sends a
	// Range: the same Accept-Encoding finds the same cache entry.
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("Range", "bytes=1000000-1000099")
	if resp, err := c.Do(req); err != nil {
		t.Error(err)
	} else {
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 206 || string(got) != string(big[1000000:1000100]) || resp.Header.Get("Content-Range") != "bytes 1000000-1000099/1048576" {
			t.Errorf("a range over HTTP/3: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(got))
		}
	}

	req, _ = http.NewRequest("GET", base+"/huge", nil)
	req.Header.Set("X-Huge", strings.Repeat("a", 100<<10))
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Logf("a 100KiB head over HTTP/3: %d", resp.StatusCode)
		if resp.StatusCode < 400 {
			t.Errorf("a 100KiB head over HTTP/3 was answered %d", resp.StatusCode)
		}
	} else {
		t.Logf("a 100KiB head over HTTP/3: %v", err)
	}
	mu.Lock()
	_, huge := bodies["/huge"]
	mu.Unlock()
	if huge {
		t.Errorf("a head beyond max_header_list_size reached the origin")
	}
	if resp, body := fetch(t, c, base+"/after"); resp.StatusCode != 200 || body != "object /after" {
		t.Errorf("after the huge head: %d %q", resp.StatusCode, body)
	}
	tr.Close()

	// A second connection resumes the first's session and tries 0-RTT.
	c, tr = newClient()
	defer tr.Close()
	req, _ = http.NewRequest(http3.MethodGet0RTT, base+"/early", nil)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	last := conns[len(conns)-1]
	mu.Unlock()
	cs := last.ConnectionState()
	t.Logf("second connection: resumed %v, 0-RTT %v", cs.TLS.DidResume, cs.Used0RTT)
	if cs.Used0RTT {
		t.Errorf("the edge accepted 0-RTT early data")
	}
	if !cs.TLS.DidResume {
		t.Errorf("the second connection did not resume the first's session, so 0-RTT was never tried")
	}
}

// TestTLSSlowloris: connections that stall in the TLS handshake, or in
// HTTP/2 before the connection preface, are closed by the edge (the
// handshake within ReadHeaderTimeout, 10s; the preface within
// net/http's 10s), not held until the viewer gives up.
func TestTLSSlowloris(t *testing.T) {
	tn := startTLSTern(t)
	stall := map[string]func() (io.ReadWriteCloser, error){
		"TCP, nothing sent": func() (io.ReadWriteCloser, error) {
			return net.Dial("tcp", tn.TLS)
		},
		"half a ClientHello": func() (io.ReadWriteCloser, error) {
			c, err := net.Dial("tcp", tn.TLS)
			if err == nil {
				_, err = c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}) // a record header and one byte of 512
			}
			return c, err
		},
		"h2, no preface": func() (io.ReadWriteCloser, error) {
			conf := tn.tlsConfig("")
			conf.NextProtos = []string{"h2"}
			return tls.Dial("tcp", tn.TLS, conf)
		},
	}
	var wg sync.WaitGroup
	for name, dial := range stall {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial()
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			defer c.Close()
			start := time.Now()
			done := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, c)
				done <- err
			}()
			select {
			case err := <-done:
				t.Logf("%s: closed by the edge after %v (%v)", name, time.Since(start).Round(100*time.Millisecond), err)
			case <-time.After(20 * time.Second):
				t.Errorf("%s: still open after 20s", name)
			}
		}()
	}
	wg.Wait()
}
