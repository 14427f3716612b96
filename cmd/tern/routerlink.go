package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/configwatch"
	"github.com/terncdn/tern/control"
	"github.com/terncdn/tern/router"
)

// Files under tern router's --data-dir.
const (
	dataRouterState  = "router-config.json" // the last good distributions (configwatch)
	dataRouterDrains = "router-drains.json" // the last set of drained POPs
)

// routerLink keeps `tern router --nats` in step with its control plane:
// the distributions (configwatch), the operator drains and the edges'
// heartbeats. The router answers whether or not it is linked: from what
// --data-dir kept, or the file's distributions, until the control plane
// is reached.
type routerLink struct {
	url, domain, token string
	health             *router.LinkedHealth
	watcher            *configwatch.Watcher
	drains             *control.DrainWatcher

	mu         sync.Mutex
	conn       *bus.Conn
	linkedAt   time.Time
	stopFollow context.CancelFunc // ends the watchers follow started

	running sync.WaitGroup
}

func newRouterLink(f routerFlags, token string) *routerLink {
	return &routerLink{url: f.nats, domain: f.natsDomain, token: token, health: router.NewLinkedHealth()}
}

// status reports the link for /status (the same shape as an edge's).
func (l *routerLink) status() linkStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := linkStatus{Linked: !l.linkedAt.IsZero(), Since: l.linkedAt}
	if l.conn != nil {
		st.Connected = l.conn.NATS().IsConnected()
	}
	return st
}

// start makes the watchers for r, applies what --data-dir kept, and
// links to the control plane: in the background if distributions were
// kept, else within limit if it can, else in the background while the
// router answers the file's distributions. A bad --data-dir is returned.
func (l *routerLink) start(ctx context.Context, r *router.Router, limit time.Duration, f routerFlags, base []byte) error {
	stateFile, drainsFile := "", ""
	if f.dataDir != "" {
		if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
			return fmt.Errorf("--data-dir: %w", err)
		}
		stateFile, drainsFile = filepath.Join(f.dataDir, dataRouterState), filepath.Join(f.dataDir, dataRouterDrains)
	}
	l.watcher = configwatch.New(configwatch.Options{Base: base, BaseSource: f.config, StateFile: stateFile,
		Apply: func(nc *config.Config) error {
			r.SetDistributions(nc.Distributions)
			return nil
		}})
	l.drains = control.NewDrainWatcher(drainsFile, r.SetDrains)
	kept, err := l.watcher.LoadState()
	if err != nil {
		slog.Warn("last distributions not applied; answering the file's until the control plane's are in", "error", err)
	}
	if ok, err := l.drains.LoadState(); err != nil {
		slog.Warn("last drained POPs not applied", "error", err)
	} else if ok {
		slog.Info("the last drained POPs kept apply until the control plane's are in", "drained", len(l.drains.Drains()))
	}
	if kept {
		// What the router last answered is a good answer now: it answers
		// at once and links meanwhile.
		slog.Info("answering the last distributions kept while connecting to the control plane",
			"revision", l.watcher.Status().Revision, "nats", redactURL(l.url))
		l.running.Go(func() { l.connectLoop(ctx, nil) })
		return nil
	}
	// Nothing kept: answering the file's distributions (often none) would
	// tell resolvers the control plane's names do not exist, and they keep
	// that for the TTL. The control plane has limit to answer first.

	cctx, cancel := context.WithTimeout(ctx, limit)
	conn, err := bus.ConnectDomain(cctx, l.url, "router", l.domain, natsAuth(l.token)...)
	cancel()
	if err == nil {
		if err = l.follow(ctx, conn, limit); err == nil {
			return nil
		}
	} else {
		conn = nil
	}
	slog.Warn("control plane not reached; answering without it and connecting in the background",
		"nats", redactURL(l.url), "error", err, "config_revision", l.watcher.Status().Revision)
	l.running.Go(func() { l.connectLoop(ctx, conn) })
	return nil
}

// connectLoop links in the background until it succeeds or ctx ends,
// with conn if the first try got that far. The NATS client retries by
// itself (every few seconds at most) while a connection is being made;
// this logs once per retryDelay, not at each of its tries.
func (l *routerLink) connectLoop(ctx context.Context, conn *bus.Conn) {
	began := time.Now()
	for attempt := 0; ; attempt++ {
		var err error
		if conn == nil {
			conn, err = l.connect(ctx, attempt, began)
			if conn == nil {
				if ctx.Err() != nil {
					return
				}
				// A rejected token, say: waiting does not mend it, but the
				// operator may; say so at each try.
				slog.Error("NATS refused this router; answering without the control plane and trying again", "nats", redactURL(l.url), "error", err)
				if !sleepCtx(ctx, retryDelay(attempt)) {
					return
				}
				continue
			}
		}
		if err = l.follow(ctx, conn, 30*time.Second); err == nil {
			slog.Info("following the control plane", "nats", redactURL(l.url), "after", time.Since(began).Round(time.Second),
				"config_revision", l.watcher.Status().Revision)
			return
		}
		if ctx.Err() != nil {
			conn.Close()
			return
		}
		slog.Warn("control plane reached but not followed yet; retrying", "error", err)
		if !sleepCtx(ctx, retryDelay(attempt)) {
			conn.Close()
			return
		}
	}
}

// connect waits for a NATS connection until ctx ends, logging that it is
// still waiting once per retryDelay. It returns nil and the error when
// the client gives up by itself (a refusal).
func (l *routerLink) connect(ctx context.Context, attempt int, began time.Time) (*bus.Conn, error) {
	type result struct {
		conn *bus.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := bus.ConnectDomain(ctx, l.url, "router", l.domain, natsAuth(l.token)...)
		done <- result{c, err}
	}()
	for {
		select {
		case r := <-done:
			return r.conn, r.err
		case <-time.After(retryDelay(attempt)):
			attempt++
			slog.Warn("control plane still not reached; answering without it", "nats", redactURL(l.url),
				"for", time.Since(began).Round(time.Second), "config_revision", l.watcher.Status().Revision)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// follow links through conn: the config bucket's distributions and
// drains are applied (within setup), then followed, and the edges'
// heartbeats become the router's health. An error leaves nothing
// running.
func (l *routerLink) follow(ctx context.Context, conn *bus.Conn, setup time.Duration) error {
	sctx, cancel := context.WithTimeout(ctx, setup)
	defer cancel()
	kv, err := conn.KV(sctx, bus.ConfigBucket)
	if err != nil {
		return fmt.Errorf("configuration bucket: %w", err)
	}
	rctx, stop := context.WithCancel(ctx)
	var watching sync.WaitGroup
	watching.Go(func() {
		if err := l.watcher.RunOn(rctx, kv); err != nil {
			slog.Error("following the configuration ended", "error", err)
		}
	})
	watching.Go(func() {
		if err := l.drains.RunOn(rctx, kv); err != nil {
			slog.Error("following the drained POPs ended", "error", err)
		}
	})
	fail := func(err error) error {
		stop()
		watching.Wait()
		return err
	}
	for _, synced := range []<-chan struct{}{l.watcher.Synced(), l.drains.Synced()} {
		select {
		case <-synced:
		case <-sctx.Done():
			return fail(fmt.Errorf("configuration bucket: no current state within %v: %w", setup, errors.Join(sctx.Err(), ctx.Err())))
		}
	}
	edges, err := control.WatchEdges(rctx, conn.NATS())
	if err != nil {
		return fail(err)
	}
	l.health.Link(router.EdgesHealth(edges), conn.NATS().IsConnected)
	l.running.Go(func() {
		<-rctx.Done()
		watching.Wait()
	})
	l.mu.Lock()
	l.conn, l.linkedAt, l.stopFollow = conn, time.Now(), stop
	l.mu.Unlock()
	return nil
}

// close waits for what runs in the background (ctx must have ended) and
// closes the connection.
func (l *routerLink) close() {
	l.mu.Lock()
	if l.stopFollow != nil {
		l.stopFollow()
	}
	l.mu.Unlock()
	l.running.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		l.conn.Close()
	}
}
