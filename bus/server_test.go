package bus

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// testCtx bounds every wait in a test.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startServer(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func connectTo(t *testing.T, s *Server) *Conn {
	t.Helper()
	c, err := s.Connect(testCtx(t), t.Name())
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestStartInProcess(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, Options{Dir: dir})
	if u := s.ClientURL(); u != "" {
		t.Errorf("ClientURL() = %q for an in-process-only server, want empty", u)
	}
	c := connectTo(t, s)
	if _, err := c.JetStream().AccountInfo(testCtx(t)); err != nil {
		t.Fatalf("JetStream account info: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		t.Errorf("no JetStream store under Dir: %v", err)
	}
	s.Shutdown()
	s.Shutdown() // a second call must not block or panic
	if c.NATS().IsConnected() {
		// The client notices asynchronously; give it a moment.
		time.Sleep(100 * time.Millisecond)
		if c.NATS().IsConnected() {
			t.Error("client still connected after Shutdown")
		}
	}
	// Shutdown released Dir.
	s2 := startServer(t, Options{Dir: dir})
	s2.Shutdown()
}

func TestStartListen(t *testing.T) {
	s := startServer(t, Options{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
	u := s.ClientURL()
	if !strings.HasPrefix(u, "nats://127.0.0.1:") || strings.HasSuffix(u, ":0") {
		t.Fatalf("ClientURL() = %q, want nats://127.0.0.1:<bound port>", u)
	}
	c, err := Connect(testCtx(t), u, "tcp client")
	if err != nil {
		t.Fatalf("Connect(%s): %v", u, err)
	}
	defer c.Close()
	if _, err := c.JetStream().AccountInfo(testCtx(t)); err != nil {
		t.Fatalf("JetStream over TCP: %v", err)
	}
}

func TestStartFails(t *testing.T) {
	busyDir := t.TempDir()
	startServer(t, Options{Dir: busyDir})

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		opts    Options
		is      error  // errors.Is target, if any
		message string // substring of the error
	}{
		{"no dir", Options{}, nil, "Dir is required"},
		{"dir in use", Options{Dir: busyDir}, ErrLocked, busyDir},
		{"port in use", Options{Dir: t.TempDir(), Listen: l.Addr().String()}, syscall.EADDRINUSE, l.Addr().String()},
		{"dir is a file", Options{Dir: file}, syscall.ENOTDIR, "create data dir"},
		{"bad listen address", Options{Dir: t.TempDir(), Listen: "localhost"}, nil, `listen address "localhost"`},
		{"bad port", Options{Dir: t.TempDir(), Listen: "127.0.0.1:http"}, nil, `bad port "http"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Start(tt.opts)
			if err == nil {
				s.Shutdown()
				t.Fatal("Start succeeded, want an error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Start error %q is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("Start error %q does not mention %q", err, tt.message)
			}
		})
	}
}

func TestToken(t *testing.T) {
	s := startServer(t, Options{Dir: t.TempDir(), Listen: "127.0.0.1:0", Token: "s3cret"})
	connectTo(t, s) // in-process presents the token by itself

	tests := []struct {
		name string
		opts []nats.Option
		ok   bool
	}{
		{"right token", []nats.Option{nats.Token("s3cret")}, true},
		{"wrong token", []nats.Option{nats.Token("guess")}, false},
		{"no token", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			c, err := Connect(testCtx(t), s.ClientURL(), "client", tt.opts...)
			if err == nil {
				c.Close()
			}
			if (err == nil) != tt.ok {
				t.Fatalf("Connect error = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok && !errors.Is(err, nats.ErrAuthorization) {
				t.Errorf("Connect error %q is not nats.ErrAuthorization", err)
			}
			// A rejected client fails at once rather than retrying until ctx ends.
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Connect took %v", d)
			}
		})
	}
}

func TestConnectWaitsForContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens here now

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = Connect(ctx, "nats://"+addr, "client")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect to a dead address = %v, want context.DeadlineExceeded", err)
	}
}

func TestReconnectAfterRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, Options{Dir: dir, Listen: "127.0.0.1:0"})
	addr := strings.TrimPrefix(s.ClientURL(), "nats://")
	c, err := Connect(testCtx(t), s.ClientURL(), "edge")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t)
	if err := c.EnsureBuckets(ctx, BucketOptions{}); err != nil {
		t.Fatal(err)
	}
	kv, err := c.KV(ctx, ConfigBucket)
	if err != nil {
		t.Fatal(err)
	}
	events, err := kv.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if e := <-events; e.Op != OpSynced {
		t.Fatalf("first event on an empty bucket = %+v, want OpSynced", e)
	}
	before, err := kv.Put(ctx, "distribution.before", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if e := <-events; e.Revision != before {
		t.Fatalf("watch got %+v, want revision %d", e, before)
	}

	s.Shutdown()
	s2 := startServer(t, Options{Dir: dir, Listen: addr})

	// The same connection works again: a put succeeds once it is back.
	var rev uint64
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		rev, err = kv.Put(pctx, "distribution.a", []byte("after restart"))
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("client did not reconnect after restart: %v", err)
		}
	}
	if u := c.NATS().ConnectedUrl(); u != s2.ClientURL() {
		t.Errorf("connected to %q, want %q", u, s2.ClientURL())
	}
	// And the watch resumes at once (not after the 10 s JetStream's own
	// heartbeat check takes): it sees the change made after the restart.
	select {
	case e := <-events:
		if e.Op != OpPut || e.Key != "distribution.a" || e.Revision != rev {
			// Not a repeat of what it saw before, nor a second OpSynced.
			t.Errorf("watch after restart got %+v, want put of distribution.a at %d", e, rev)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("watch did not resume within 3s of the server restarting")
	}
}
