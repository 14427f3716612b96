package origin

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// echoOrigin accepts WebSocket upgrades (RFC 6455 §4.2.2) and echoes raw
// bytes; without an Authorization header it refuses with 403.
func echoOrigin(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(echoHandler(t))
	t.Cleanup(srv.Close)
	return srv
}

func echoHandler(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			http.Error(w, "no entry", http.StatusForbidden)
			return
		}
		key := r.Header.Get("Sec-WebSocket-Key")
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || key == "" {
			http.Error(w, "not an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: "+acceptKey(key)+"\r\nSec-WebSocket-Protocol: "+r.Header.Get("Sec-WebSocket-Protocol")+"\r\n\r\n")
		brw.Flush()
		buf := make([]byte, 1024)
		for {
			n, err := brw.Read(buf)
			if err != nil {
				return
			}
			conn.Write(buf[:n])
		}
	})
}

func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// tunnelEdge is an edge that forwards only Authorization and tunnels every
// request.
func tunnelEdge(t *testing.T, o *Origin) *httptest.Server {
	c := NewClient(ClientOptions{})
	fwd := Forwarding{Headers: Selection{Behavior: Whitelist, Names: []string{"Authorization"}}}
	edge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !IsWebSocket(r) {
			http.Error(w, "not a websocket", 400)
			return
		}
		var req Request
		fwd.Apply(r, "192.0.2.7", "", &req)
		if err := c.Tunnel(w, r, single(o), &req); err != nil {
			t.Logf("tunnel: %v", err)
		}
	}))
	t.Cleanup(edge.Close)
	return edge
}

func TestTunnelEchoes(t *testing.T) {
	origin := echoOrigin(t)
	testTunnelEchoes(t, tunnelEdge(t, originFor(t, "ws", origin.Listener.Addr())))
}

func testTunnelEchoes(t *testing.T, edge *httptest.Server) {
	conn, err := net.Dial("tcp", edge.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	// "early" follows the request at once, before any 101: it must reach
	// the origin too.
	io.WriteString(conn, "GET /chat HTTP/1.1\r\nHost: cdn.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: "+key+"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\nAuthorization: yes\r\n\r\nearly")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key) ||
		resp.Header.Get("Sec-WebSocket-Protocol") != "chat" || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("viewer got %d %v", resp.StatusCode, resp.Header)
	}
	expect := func(want string) {
		t.Helper()
		got := make([]byte, len(want))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
			t.Fatalf("echo = %q, %v; want %q", got, err, want)
		}
	}
	expect("early")
	io.WriteString(conn, "ping")
	expect("ping")
	io.WriteString(conn, "pong")
	expect("pong")
}

func TestTunnelRefused(t *testing.T) {
	origin := echoOrigin(t)
	edge := tunnelEdge(t, originFor(t, "ws", origin.Listener.Addr()))
	req, _ := http.NewRequest("GET", edge.URL+"/chat", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 403 || strings.TrimSpace(string(body)) != "no entry" {
		t.Errorf("viewer got %d %q, want the origin's 403", resp.StatusCode, body)
	}
}

func TestIsWebSocket(t *testing.T) {
	tests := []struct {
		connection, upgrade string
		want                bool
	}{
		{"Upgrade", "websocket", true},
		{"keep-alive, upgrade", "WebSocket", true},
		{"keep-alive", "websocket", false},
		{"Upgrade", "h2c", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Connection", tt.connection)
		r.Header.Set("Upgrade", tt.upgrade)
		if got := IsWebSocket(r); got != tt.want {
			t.Errorf("IsWebSocket(Connection: %q, Upgrade: %q) = %v, want %v", tt.connection, tt.upgrade, got, tt.want)
		}
	}
}
