package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/configwatch"
	"github.com/terncdn/tern/control"
	"github.com/terncdn/tern/edge"
	"github.com/terncdn/tern/invalidations"
	"github.com/terncdn/tern/telemetry"
)

// edgeLink keeps an edge in step with the control plane over NATS: it
// applies the config bucket's revisions (configwatch), the invalidation
// stream (invalidations) and sends heartbeats. Without NATS it serves the
// last good configuration it kept.
type edgeLink struct {
	node, pop string
	role      string // edge.role, for heartbeats
	// tierAddr is what the heartbeats advertise for tier-to-tier
	// requests, known once the edge listens ("" until then, or for good
	// when edge.listen names no host).
	tierAddr atomic.Pointer[string]
	srv      *edge.Server
	// members, if set, is the registry of nodes already fed by
	// heartbeats in this process (the control plane's in tern serve);
	// otherwise follow subscribes to them itself.
	members *control.Edges
	// positionFile keeps the edge's place in the invalidation stream ("":
	// none).
	positionFile string
	// totals, if set, gives the node's running totals for heartbeats.
	totals  func() (telemetry.Summary, error)
	watcher *configwatch.Watcher
	started time.Time

	mu       sync.Mutex
	linked   bool      // following the bucket and the stream
	linkedAt time.Time // when it started to
	conn     *bus.Conn

	running sync.WaitGroup
}

// linkStatus is the link's part of /status.
type linkStatus struct {
	// Linked is whether the edge follows the control plane: false while
	// it has not reached NATS since it started.
	Linked    bool      `json:"linked"`
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since,omitzero"`
}

// newEdgeLink returns a link for srv: it assembles the bucket's
// distributions with base (the node's configuration file), puts the result
// in service with apply, and keeps the last good configuration in
// stateFile ("" keeps none).
func newEdgeLink(c *config.Config, base []byte, source, stateFile string, apply func(*config.Config) error, srv *edge.Server) *edgeLink {
	return &edgeLink{
		node: c.Edge.NodeID, pop: c.Edge.POP, role: c.Edge.Role, srv: srv, started: time.Now(),
		watcher: configwatch.New(configwatch.Options{Base: base, BaseSource: source, Apply: apply, StateFile: stateFile}),
	}
}

// status reports the link for /status.
func (l *edgeLink) status() linkStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := linkStatus{Linked: l.linked, Since: l.linkedAt}
	if l.conn != nil {
		st.Connected = l.conn.NATS().IsConnected()
	}
	return st
}

// follow links the edge through conn: it catches up on the invalidations
// issued while it was away and waits for the bucket's current revision to
// be applied (both within setup, a deadline for the steps before serving),
// then follows both and sends heartbeats until ctx ends. An error leaves
// nothing running.
func (l *edgeLink) follow(ctx context.Context, conn *bus.Conn, setup time.Duration) error {
	sctx, cancel := context.WithTimeout(ctx, setup)
	defer cancel()
	kv, err := conn.KV(sctx, bus.ConfigBucket)
	if err != nil {
		return fmt.Errorf("configuration bucket: %w", err)
	}
	// Tier requests between the nodes are signed with the control
	// plane's secret; other Tern-Tier headers are a viewer's.
	secret, err := bus.TierSecret(sctx, kv)
	if err != nil {
		return err
	}
	l.srv.SetTierSecret(secret)
	follower, err := invalidations.New(sctx, invalidations.Options{Conn: conn, Node: l.node, POP: l.pop,
		Purge: func(d string, t invalidations.Target) error {
			// Fenced first: a fill through another node that starts
			// once the purge took effect must not bring it back.
			l.srv.NoteAppliedPurge(d, t.Path, t.Tag, t.Seq)
			var err error
			if t.Tag != "" {
				_, err = l.srv.PurgeTag(d, t.Tag, t.Soft)
			} else {
				_, err = l.srv.PurgePath(d, t.Path, t.Soft)
			}
			return err
		},
		PurgeAll:     func() { l.srv.PurgeAll() },
		Applied:      l.srv.InvalidationsApplied,
		PositionFile: l.positionFile})
	if err != nil {
		return err
	}
	// Invalidations issued while this edge was away apply before it
	// serves again.
	if n, err := follower.CatchUp(sctx); err != nil {
		return err
	} else if n > 0 {
		slog.Info("applied the invalidations issued while away", "count", n)
	}
	rctx, stop := context.WithCancel(ctx)
	watching := make(chan struct{})
	l.running.Go(func() {
		defer close(watching)
		if err := l.watcher.RunOn(rctx, kv); err != nil {
			slog.Error("following the configuration ended", "error", err)
		}
	})
	select {
	case <-l.watcher.Synced():
	case <-sctx.Done():
		stop()
		<-watching
		return fmt.Errorf("configuration bucket: no current state within %v: %w", setup, sctx.Err())
	}
	// The other nodes' heartbeats are the tier membership: misses go
	// through the POP's owner of each object and the origin's shield.
	members := l.members
	if members == nil {
		if members, err = control.WatchEdges(rctx, conn.NATS()); err != nil {
			stop()
			<-watching
			return err
		}
	}
	l.srv.SetTiers(members)
	l.running.Go(func() {
		defer stop()
		if err := follower.Run(rctx); err != nil {
			slog.Error("following invalidations ended", "error", err)
		}
	})
	l.running.Go(func() {
		control.SendHeartbeats(rctx, conn.NATS(), 0, l.heartbeat)
	})
	l.mu.Lock()
	l.linked, l.linkedAt, l.conn = true, time.Now(), conn
	l.mu.Unlock()
	return nil
}

func (l *edgeLink) heartbeat() control.Heartbeat {
	st := l.watcher.Status()
	hb := control.Heartbeat{NodeID: l.node, POP: l.pop, Version: version,
		ConfigRevision: st.Revision, ConfigError: st.Error, Started: l.started, Role: l.role}
	if a := l.tierAddr.Load(); a != nil {
		hb.TierAddress = *a
	}
	if l.totals != nil {
		if s, err := l.totals(); err == nil {
			hb.Metrics = &s
		}
	}
	return hb
}

// connect links the edge to the NATS server at url (JetStream in domain,
// "" for the server's own). It tries for at most
// limit before the edge serves: connecting, catching up on invalidations
// and applying the current configuration. If that does not finish in
// time, the edge serves its last good configuration and connect goes on
// in the background until ctx ends. A refusal retrying cannot mend (a
// rejected token) is returned.
func (l *edgeLink) connect(ctx context.Context, url, domain, token string, limit time.Duration) error {
	name := "edge " + l.pop + "/" + l.node
	lctx, cancel := context.WithTimeout(ctx, limit)
	conn, err := bus.ConnectDomain(lctx, url, name, domain, natsAuth(token)...)
	cancel()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if err == nil {
		if err = l.follow(ctx, conn, limit); err == nil {
			return nil
		}
	}
	slog.Warn("control plane not reached; serving the last good configuration and connecting in the background",
		"nats", url, "error", err, "config_revision", l.watcher.Status().Revision)
	l.running.Go(func() {
		for attempt := 0; ; attempt++ {
			if conn == nil {
				conn, err = bus.ConnectDomain(ctx, url, name, domain, natsAuth(token)...)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					// A refused token, say: this edge serves unlinked (no
					// heartbeats, no invalidations) until it is mended, so
					// it says so at every try.
					slog.Error("NATS refused this edge; serving without the control plane and trying again", "nats", url, "error", err)
					conn = nil
					select {
					case <-ctx.Done():
						return
					case <-time.After(retryDelay(attempt)):
					}
					continue
				}
			}
			if err = l.follow(ctx, conn, 30*time.Second); err == nil {
				slog.Info("following the control plane", "nats", url, "config_revision", l.watcher.Status().Revision)
				return
			}
			slog.Warn("control plane not followed yet; retrying", "error", err)
			select {
			case <-ctx.Done():
				conn.Close()
				return
			case <-time.After(retryDelay(attempt)):
			}
		}
	})
	return nil
}

// natsAuth is the options that present token, if there is one.
func natsAuth(token string) []nats.Option {
	if token == "" {
		return nil
	}
	return []nats.Option{nats.Token(token)}
}

// retryDelay is the wait after the attempt-th failed try: 1 s doubling up
// to 30 s, with jitter.
func retryDelay(attempt int) time.Duration {
	d := min(time.Second<<min(attempt, 5), 30*time.Second)
	return d + rand.N(d/4+1)
}

// close waits for what runs in the background (ctx must have ended) and
// closes the connection the link opened.
func (l *edgeLink) close(ownConn bool) {
	l.running.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if ownConn && l.conn != nil {
		l.conn.Close()
	}
}
