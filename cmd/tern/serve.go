package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/control"
	"github.com/terncdn/tern/demo"
	"github.com/terncdn/tern/edge"
	"github.com/terncdn/tern/invalidations"
	"github.com/terncdn/tern/telemetry"
)

type serveFlags struct {
	config     string
	listen     string
	admin      string
	accessLog  string
	demoOrigin string
	dataDir    string
}

func serveCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve [--config FILE]",
		Short: "Run a complete CDN on this machine",
		Long: `Serve runs an edge with its admin endpoint (Prometheus /metrics, /healthz,
/status, /debug/pprof/) from one configuration file.

With no --config it runs the built-in example: an edge on 127.0.0.1:8080 in
front of a demo origin on 127.0.0.1:8081 (a static site, a short-TTL API and
large downloads), and prints what to curl.

With --data-dir it also runs the control plane: an embedded NATS server keeps
the distributions (the configuration file's are carried over on first start),
the control API on the admin listener (/api/v1/, bearer token in
DATA-DIR/admin-token) changes them, and the edge applies each revision whole,
keeping the last good one for restarts.

Signals: SIGHUP reloads the configuration file (a bad file is refused and the
running one kept; with --data-dir the file's distributions are not reloaded,
the control plane owns them, but its policies are) and reopens the access
log; SIGINT or SIGTERM drain and stop.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "configuration file (YAML); default: the built-in example with a demo origin")
	fl.StringVar(&f.listen, "listen", "", "override edge.listen")
	fl.StringVar(&f.admin, "admin", "", `override admin.listen ("off" disables it)`)
	fl.StringVar(&f.accessLog, "access-log", "", `override edge.access_log: "stdout", "stderr" or a file`)
	fl.StringVar(&f.demoOrigin, "demo-origin", "127.0.0.1:8081", "where the built-in example's demo origin listens (only without --config)")
	fl.StringVar(&f.dataDir, "data-dir", "", `run the control plane too: embedded NATS, the distributions (seeded from the
configuration file on first start, then changed through the API and "tern apply")
and a generated admin token, all kept under this directory`)
	return cmd
}

func loadConfig(f serveFlags) (*config.Config, error) {
	var c *config.Config
	var err error
	if f.config == "" {
		c, err = config.Parse(config.Example, "built-in example")
	} else {
		c, err = config.Load(f.config)
	}
	if err != nil {
		return nil, err
	}
	if f.listen != "" {
		c.Edge.Listen = f.listen
	}
	if f.admin != "" {
		c.Admin.Listen = f.admin
	}
	if f.accessLog != "" {
		c.Edge.AccessLog = f.accessLog
	}
	if f.config == "" && f.demoOrigin != "127.0.0.1:8081" {
		if f.dataDir != "" {
			return nil, errors.New("--demo-origin with --data-dir: the control plane keeps the example's distribution as written; use --config with your own")
		}
		if err := pointDemoOrigin(c, f.demoOrigin); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// pointDemoOrigin moves the example's demo origin to another address.
func pointDemoOrigin(c *config.Config, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--demo-origin %q: %w", addr, err)
	}
	var p int
	if _, err := fmt.Sscan(port, &p); err != nil {
		return fmt.Errorf("--demo-origin %q: port: %w", addr, err)
	}
	for _, d := range c.Distributions {
		for _, o := range d.Origins {
			o.DomainName, o.HTTPPort = host, p
		}
	}
	return nil
}

func serve(ctx context.Context, out io.Writer, f serveFlags) error {
	c, err := loadConfig(f)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	tiers, err := openCache(c)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	defer tiers.close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := telemetry.NewMetrics(reg, c.Edge.NodeID, c.Edge.POP)
	if err := telemetry.RegisterCacheTiers(metrics.Registerer(), tiers.stats); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}

	var accessLog *telemetry.AccessLog
	if c.Edge.AccessLog != "" {
		if accessLog, err = telemetry.OpenAccessLog(c.Edge.AccessLog); err != nil {
			return fmt.Errorf("access log: %w", err)
		}
		defer accessLog.Close()
		if err := telemetry.RegisterAccessLogCounters(metrics.Registerer(), accessLog); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}

	srv, err := edge.New(edge.Options{Config: c, Storage: tiers.store, AccessLog: accessLog, Metrics: metrics,
		Bodies: tiers.bodies(), BodiesMax: int64(c.Edge.Cache.DiskMaxObjectSize),
		Slices: tiers.slices()})
	if err != nil {
		return err
	}
	defer srv.Close()

	var cp *controlPlane
	// tierAddr is what the heartbeats advertise for tier-to-tier
	// requests, known once the edge listens ("" until then, or for good
	// when edge.listen names no host).
	var tierAddr atomic.Pointer[string]
	if f.dataDir != "" {
		base, source := config.Example, "built-in example"
		if f.config != "" {
			if base, err = os.ReadFile(f.config); err != nil {
				return fmt.Errorf("configuration: %w", err)
			}
			source = f.config
		}
		cpCtx, stopCP := context.WithCancel(ctx)
		if cp, err = startControlPlane(cpCtx, f.dataDir, base, source, srv.Apply); err != nil {
			stopCP()
			return fmt.Errorf("control plane: %w", err)
		}
		// Misses go through the POP's owner and the origin's shield, as
		// the nodes' heartbeats tell them apart (tiered caching).
		srv.SetTiers(cp.edges)
		var running sync.WaitGroup
		defer func() {
			// What uses the bus stops before the bus.
			stopCP()
			running.Wait()
			cp.close()
		}()
		// Invalidations issued while this edge was away apply before it
		// serves again.
		follower, err := invalidations.New(cpCtx, invalidations.Options{Conn: cp.conn, Node: c.Edge.NodeID, POP: c.Edge.POP,
			Purge: func(d, p string) error { _, err := srv.Purge(d, p); return err }})
		if err != nil {
			return fmt.Errorf("control plane: %w", err)
		}
		if n, err := follower.CatchUp(cpCtx); err != nil {
			return fmt.Errorf("control plane: %w", err)
		} else if n > 0 {
			slog.Info("applied the invalidations issued while away", "count", n)
		}
		running.Go(func() {
			if err := follower.Run(cpCtx); err != nil {
				slog.Error("following invalidations ended", "error", err)
			}
		})
		running.Go(func() {
			if err := cp.watcher.Run(cpCtx); err != nil {
				slog.Error("control plane watch ended", "error", err)
			}
		})
		started := time.Now()
		running.Go(func() {
			control.SendHeartbeats(cpCtx, cp.conn.NATS(), 0, func() control.Heartbeat {
				st := cp.watcher.Status()
				hb := control.Heartbeat{NodeID: c.Edge.NodeID, POP: c.Edge.POP, Version: version,
					ConfigRevision: st.Revision, ConfigError: st.Error, Started: started, Role: c.Edge.Role}
				if a := tierAddr.Load(); a != nil {
					hb.TierAddress = *a
				}
				return hb
			})
		})
	}

	errc := make(chan error, 3)
	var servers []*http.Server

	if f.config == "" {
		addr := f.demoOrigin
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("demo origin: %w", err)
		}
		hs := &http.Server{Handler: demo.NewHandler(), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, hs)
		go func() { errc <- serveOn(hs, ln, "demo origin") }()
	}

	edgeLn, err := net.Listen("tcp", c.Edge.Listen)
	if err != nil {
		return fmt.Errorf("edge listen: %w", err)
	}
	edgeSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug),
	}
	servers = append(servers, edgeSrv)
	go func() { errc <- serveOn(edgeSrv, edgeLn, "edge") }()
	if cp != nil {
		adv := c.Edge.AdvertisedTierAddress(edgeLn.Addr().String())
		if adv == "" {
			slog.Info("not advertised for tier-to-tier requests: edge.listen names no host other nodes can reach; set edge.tier_address to take them (this node still fetches through its peers and shields)",
				"listen", c.Edge.Listen)
		}
		tierAddr.Store(&adv)
	}

	adminAddr := ""
	if c.Admin.Enabled() {
		adminLn, err := net.Listen("tcp", c.Admin.Listen)
		if err != nil {
			return fmt.Errorf("admin listen: %w", err)
		}
		adminAddr = adminLn.Addr().String()
		as := &http.Server{Handler: adminHandler(reg, c, tiers, srv, cp), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, as)
		go func() { errc <- serveOn(as, adminLn, "admin") }()
	}

	if cp != nil {
		// The CLI on this machine finds the control API here; without an
		// admin listener there is none to find.
		urlFile := filepath.Join(f.dataDir, dataControlURL)
		if adminAddr == "" {
			if err := os.Remove(urlFile); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("--data-dir: %w", err)
			}
		} else if err := os.WriteFile(urlFile, []byte("http://"+adminAddr+"\n"), 0o644); err != nil {
			return fmt.Errorf("--data-dir: %w", err)
		}
	}
	printBanner(out, c, edgeLn.Addr().String(), adminAddr, f)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			reload(f, srv, accessLog, cp)
		case err := <-errc:
			shutdown(servers)
			return err
		case <-ctx.Done():
			shutdown(servers)
			return nil
		}
	}
}

func serveOn(hs *http.Server, ln net.Listener, what string) error {
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func shutdown(servers []*http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(ctx)
	}
}

// reload applies the configuration file again; a bad file is refused whole
// and the running configuration kept.
func reload(f serveFlags, srv *edge.Server, accessLog *telemetry.AccessLog, cp *controlPlane) {
	if accessLog != nil {
		if err := accessLog.Reopen(); err != nil {
			slog.Error("reopen access log", "error", err)
		}
	}
	if f.config == "" {
		return
	}
	if cp != nil {
		// The distributions are the control plane's; the file gives the
		// policies they are validated and applied with.
		base, err := os.ReadFile(f.config)
		if err == nil {
			err = cp.setBase(base, f.config)
		}
		if err != nil {
			slog.Error("reload refused, keeping the running configuration", "file", f.config, "error", err)
			return
		}
		slog.Info("configuration reloaded", "file", f.config)
		return
	}
	c, err := loadConfig(f)
	if err != nil {
		slog.Error("reload refused, keeping the running configuration", "file", f.config, "error", err)
		return
	}
	if err := srv.Apply(c); err != nil {
		slog.Error("reload refused, keeping the running configuration", "file", f.config, "error", err)
		return
	}
	slog.Info("configuration reloaded", "file", f.config, "distributions", len(c.Distributions))
}

func adminHandler(reg *prometheus.Registry, c *config.Config, tiers *cacheTiers, srv *edge.Server, cp *controlPlane) http.Handler {
	mux := http.NewServeMux()
	adminCache(mux, srv, tiers)
	if cp != nil {
		mux.Handle("/api/v1/", cp.api) // bearer token: DATA-DIR/admin-token
	}
	mux.Handle("GET /metrics", telemetry.Handler(reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		ids := make([]string, 0, len(c.Distributions))
		for _, d := range c.Distributions {
			ids = append(ids, d.ID)
		}
		st := map[string]any{
			"version": version, "node_id": c.Edge.NodeID, "pop": c.Edge.POP,
			"cache":         tiers.stats(),
			"distributions": ids,
		}
		if cp != nil {
			st["distributions"] = srv.DistributionIDs()
			st["config"] = cp.watcher.Status()
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	})
	// Go's profiler, for operators: the admin listener is private.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "Tern admin\n  /metrics        Prometheus metrics\n  /healthz        liveness\n  /status         node, cache tiers and distributions (JSON)\n  /cache/objects  stored objects: ?distribution=D&path=/prefix&limit=N (JSON)\n  /cache/purge    POST ?distribution=D&path=/a.jpg&path=/img/* removes them from every tier\n  /api/v1/        the control API (with --data-dir; bearer token)\n  /debug/pprof/   Go profiles\n")
	})
	return mux
}

func printBanner(out io.Writer, c *config.Config, edgeAddr, adminAddr string, f serveFlags) {
	base := "http://" + edgeAddr
	var b strings.Builder
	fmt.Fprintf(&b, "Tern %s: edge %s (node %s, pop %s), %d distribution(s)\n", version, base, c.Edge.NodeID, c.Edge.POP, len(c.Distributions))
	if adminAddr != "" {
		fmt.Fprintf(&b, "  admin:   http://%s/metrics  /healthz  /status\n", adminAddr)
	}
	fmt.Fprintf(&b, "  cache:   memory %s", c.Edge.Cache.Memory)
	for i, d := range c.Edge.Cache.Disk {
		fmt.Fprintf(&b, ", disk%d %s at %s", i, d.Size, d.Path)
	}
	b.WriteString("\n")
	if c.Edge.AccessLog != "" {
		fmt.Fprintf(&b, "  access log: %s\n", c.Edge.AccessLog)
	}
	if f.config == "" {
		fmt.Fprintf(&b, "  demo origin: http://%s/ (built-in example; use --config FILE for your own)\n\n", f.demoOrigin)
		fmt.Fprintf(&b, "Open %s/ in a browser, or try:\n", base)
		fmt.Fprintf(&b, "  curl -si %s/ | grep -iE '^(x-cache|age)'          # Miss, then Hit\n", base)
		fmt.Fprintf(&b, "  curl -si %s/api/time                              # 5 s TTL, stale-while-revalidate\n", base)
		fmt.Fprintf(&b, "  curl -si -H 'Range: bytes=0-99' %s/download/big.bin -o /dev/null -D -\n", base)
		fmt.Fprintf(&b, "  curl -s  http://%s/metrics | grep tern_requests\n", adminAddr)
	}
	io.WriteString(out, b.String())
}
