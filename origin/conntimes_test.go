package origin

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// TestConnectionTimes: a fetch on a new connection reports the DNS lookup
// of the origin's name and the time to connect after it (TLS handshake
// included); one on a reused connection reports 0 for both, over HTTP/1.1
// and HTTP/2.
func TestConnectionTimes(t *testing.T) {
	const slow = 60 * time.Millisecond
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })

	t.Run("http by name", func(t *testing.T) {
		srv := httptest.NewServer(ok)
		defer srv.Close()
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		p, _ := strconv.Atoi(port)
		// A connection that takes slow to set up once the name is known.
		d := &net.Dialer{}
		c := NewClient(ClientOptions{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, addr)
			time.Sleep(slow)
			return conn, err
		}})
		o := &Origin{ID: "web", DomainName: "localhost", HTTPPort: p, ProtocolPolicy: HTTPOnly,
			ConnectionAttempts: 1, ConnectionTimeout: time.Second, ResponseTimeout: 2 * time.Second}
		first := fetchTimes(t, c, o)
		if first.DNSTime <= 0 || first.DNSTime >= slow || first.ConnectTime < slow {
			t.Errorf("new connection: DNS %v, connect %v (want DNS > 0, connect >= %v)", first.DNSTime, first.ConnectTime, slow)
		}
		if again := fetchTimes(t, c, o); again.DNSTime != 0 || again.ConnectTime != 0 {
			t.Errorf("reused connection: DNS %v, connect %v, want 0 and 0", again.DNSTime, again.ConnectTime)
		}
	})

	t.Run("https h2 by address", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(ok)
		srv.EnableHTTP2 = true
		srv.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			time.Sleep(slow) // a slow handshake
			return nil, nil
		}}
		srv.StartTLS()
		defer srv.Close()
		o := (&tlsOrigin{srv: srv}).origin(t, true)
		c := NewClient(ClientOptions{})
		first := fetchTimes(t, c, o)
		if first.ProtoMajor != 2 {
			t.Fatalf("HTTP/%d, want HTTP/2", first.ProtoMajor)
		}
		if first.DNSTime != 0 || first.ConnectTime < slow {
			t.Errorf("new connection: DNS %v, connect %v (want 0 for an address, connect >= %v)", first.DNSTime, first.ConnectTime, slow)
		}
		if again := fetchTimes(t, c, o); again.DNSTime != 0 || again.ConnectTime != 0 {
			t.Errorf("reused connection: DNS %v, connect %v, want 0 and 0", again.DNSTime, again.ConnectTime)
		}
	})
}

func fetchTimes(t *testing.T, c *Client, o *Origin) *Response {
	t.Helper()
	resp, err := c.Do(context.Background(), single(o), &Request{Path: "/"})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	return resp
}
