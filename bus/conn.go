package bus

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Reconnect backoff: the first retry after a disconnect comes after about
// reconnectMin, each later round of retries waits twice as long, up to
// reconnectMax, plus up to 25% jitter so that hundreds of edges do not
// reconnect in lockstep after a NATS restart.
const (
	reconnectMin = 50 * time.Millisecond
	reconnectMax = 5 * time.Second
)

// Conn is a client connection to NATS with JetStream. It reconnects forever:
// while NATS is away, publishes are buffered and requests fail, and the
// config watches resume where they were when it comes back.
type Conn struct {
	nc *nats.Conn
	js jetstream.JetStream

	mu          sync.Mutex
	reconnected chan struct{} // closed at the next reconnect, then replaced
}

// Connect connects to the NATS server at url (comma-separated for a
// cluster), naming the connection name (it shows in the server's monitoring,
// e.g. "edge eu-west/node-3"). It waits for the first connection until ctx is
// done; afterwards it reconnects with backoff forever. opts are applied after
// Tern's defaults, e.g. nats.Token or nats.UserCredentials; one that sets
// nats.ReconnectHandler replaces Tern's, and watches then take about 10 s
// instead of a moment to resume after a reconnect.
func Connect(ctx context.Context, url, name string, opts ...nats.Option) (*Conn, error) {
	return connect(ctx, url, name, "", opts)
}

// ConnectDomain is Connect for a JetStream in domain: the control plane's
// when the client reaches it through a NATS leaf node (see
// Options.LeafListen; Tern's embedded server's domain is Domain).
func ConnectDomain(ctx context.Context, url, name, domain string, opts ...nats.Option) (*Conn, error) {
	return connect(ctx, url, name, domain, opts)
}

// Connect connects to s in-process (no network), with the same behaviour as
// the package-level Connect. The connection is bound to s: it cannot follow
// a restart into a new Server; clients that must (edges) connect by URL.
func (s *Server) Connect(ctx context.Context, name string, opts ...nats.Option) (*Conn, error) {
	own := []nats.Option{nats.InProcessServer(s)}
	if s.token != "" {
		own = append(own, nats.Token(s.token))
	}
	return connect(ctx, "", name, "", append(own, opts...))
}

// connect dials url, or the in-process server in extra if url is empty.
func connect(ctx context.Context, url, name, domain string, extra []nats.Option) (*Conn, error) {
	where := url
	if where == "" {
		where = "in-process"
	}
	c := &Conn{reconnected: make(chan struct{})}
	log := slog.Default().With("component", "nats", "conn", name)
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.CustomReconnectDelay(reconnectDelay),
		// Notice a dead server within about 30 s even without a TCP reset.
		nats.PingInterval(10 * time.Second),
		nats.MaxPingsOutstanding(3),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted())
			c.signalReconnect()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Warn("NATS subscription error", "subject", sub.Subject, "err", err)
				return
			}
			log.Warn("NATS error", "err", err)
		}),
	}
	nc, err := nats.Connect(url, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s as %q: %w", where, name, err)
	}
	if err := waitConnected(ctx, nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect to NATS %s as %q: %w", where, name, err)
	}
	var js jetstream.JetStream
	if domain != "" {
		js, err = jetstream.NewWithDomain(nc, domain)
	} else {
		js, err = jetstream.New(nc)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect to NATS %s as %q: jetstream: %w", where, name, err)
	}
	c.nc, c.js = nc, js
	return c, nil
}

// reconnects returns a channel closed at the next reconnect.
func (c *Conn) reconnects() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reconnected
}

func (c *Conn) signalReconnect() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.reconnected)
	c.reconnected = make(chan struct{})
}

// waitConnected waits for nc's first connection. The client gives up by
// itself only on errors retrying cannot fix, such as a rejected token.
func waitConnected(ctx context.Context, nc *nats.Conn) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !nc.IsConnected() {
		select {
		case <-tick.C:
			if nc.IsClosed() {
				return nc.LastError()
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// reconnectDelay is the wait after the attempt-th failed round over the
// server list within one disconnect.
func reconnectDelay(attempt int) time.Duration {
	d := reconnectMax
	if attempt < 16 {
		d = min(reconnectMin<<max(attempt-1, 0), reconnectMax)
	}
	return d + rand.N(d/4+1)
}

// NATS returns the underlying connection, for plain subjects.
func (c *Conn) NATS() *nats.Conn { return c.nc }

// JetStream returns the JetStream context of the connection.
func (c *Conn) JetStream() jetstream.JetStream { return c.js }

// Close closes the connection at once; pending publishes are dropped and
// watches end.
func (c *Conn) Close() { c.nc.Close() }
