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
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/control"
	"github.com/terncdn/tern/demo"
	"github.com/terncdn/tern/edge"
	"github.com/terncdn/tern/geo"
	"github.com/terncdn/tern/router"
	"github.com/terncdn/tern/telemetry"
)

type serveFlags struct {
	config    string
	listen    string
	listenTLS string // overrides edge.listen_tls; "off" turns it off
	// demoTLS are the demo's self-signed certificate files (tern serve
	// without --config, with a data dir): cert, key.
	demoTLS    [2]string
	admin      string
	accessLog  string
	demoOrigin string
	dataDir    string
	// routerListen overrides router.listen; "off" runs no router.
	routerListen string

	// tern edge: the control plane's NATS server, and this node's names.
	nats           string
	natsToken      string
	natsTokenFile  string
	natsDomain     string
	connectTimeout time.Duration
	pop, nodeID    string
}

// edgeMode reports whether these are `tern edge`'s flags: an edge of a
// control plane elsewhere, with no demo origin.
func (f serveFlags) edgeMode() bool { return f.nats != "" }

// defaultBase is the configuration used without --config: the built-in
// example for `tern serve`, and the defaults alone for `tern edge` (its
// distributions come from the control plane).
func (f serveFlags) defaultBase() ([]byte, string) {
	if f.edgeMode() {
		return []byte("{}\n"), "defaults (no --config)"
	}
	if f.dataDir != "" {
		// The demo keeps a disk tier under its data dir, so that ranges of
		// its large downloads are fetched and kept slice by slice.
		path, _ := json.Marshal(filepath.Join(f.dataDir, "cache"))
		disk := fmt.Sprintf("    disk: {path: %s, size: %s}\n", path, demoDiskSize)
		return []byte(strings.Replace(string(config.Example), "    # disk:\n", disk+"    # disk:\n", 1)), "built-in example"
	}
	return config.Example, "built-in example"
}

// natsTokenValue is the token for --nats: --nats-token, the file
// --nats-token-file names, or $TERN_NATS_TOKEN.
func (f serveFlags) natsTokenValue() (string, error) {
	switch {
	case f.natsToken != "" && f.natsTokenFile != "":
		return "", errors.New("--nats-token and --nats-token-file: give one")
	case f.natsToken != "":
		return f.natsToken, nil
	case f.natsTokenFile != "":
		b, err := os.ReadFile(f.natsTokenFile)
		if err != nil {
			return "", fmt.Errorf("--nats-token-file: %w", err)
		}
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", fmt.Errorf("--nats-token-file: %s is empty", f.natsTokenFile)
		}
		return t, nil
	}
	return os.Getenv("TERN_NATS_TOKEN"), nil
}

func edgeCmd() *cobra.Command {
	f := serveFlags{}
	cmd := &cobra.Command{
		Use:   "edge --nats URL [--config FILE]",
		Short: "Run an edge of a control plane elsewhere",
		Long: `Edge runs one edge node of a Tern network: it serves viewers from its cache
and follows a control plane ("tern control") over NATS. The distributions come
from the control plane; the configuration file (optional) gives this node's own
settings: edge (listen, cache tiers, access log), admin, and the policies the
distributions name (keep them the same as the control plane's).

At start the edge connects, applies the invalidations issued while it was
away and the current configuration, then serves. If the control plane cannot
be reached within --connect-timeout it serves the last good configuration kept
under --data-dir and keeps connecting in the background; it follows every
revision and invalidation from then on, and sends a heartbeat each second.

The NATS token comes from --nats-token, --nats-token-file or $TERN_NATS_TOKEN;
"tern control" prints the command line for edges on its machine.

Signals: SIGHUP reloads the configuration file (its policies and edge
settings that can change while running) and reopens the access log; SIGINT or
SIGTERM drain and stop.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.nats == "" {
				return errors.New("--nats: required (the control plane's NATS URL, e.g. nats://10.0.0.2:4222)")
			}
			if f.connectTimeout <= 0 {
				return fmt.Errorf("--connect-timeout %v: must be above 0", f.connectTimeout)
			}
			return serve(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "this node's configuration file (YAML); default: the defaults (edge on 127.0.0.1:8080, admin on 127.0.0.1:9090)")
	fl.StringVar(&f.nats, "nats", "", "the control plane's NATS server, e.g. nats://10.0.0.2:4222 (comma-separated for a cluster)")
	fl.StringVar(&f.natsToken, "nats-token", "", "NATS token (default $TERN_NATS_TOKEN)")
	fl.StringVar(&f.natsTokenFile, "nats-token-file", "", "read the NATS token from this file (e.g. the control plane's DATA-DIR/nats-token)")
	fl.StringVar(&f.natsDomain, "nats-domain", "", `the control plane's JetStream domain, when --nats is a leaf node in this POP
("`+bus.Domain+`" for tern control's embedded NATS)`)
	fl.DurationVar(&f.connectTimeout, "connect-timeout", 5*time.Second, "how long to try the control plane before serving the last good configuration")
	fl.StringVar(&f.pop, "pop", "", "override edge.pop: the point of presence this node is in")
	fl.StringVar(&f.nodeID, "node-id", "", "override edge.node_id: this node's name, unique in the network")
	fl.StringVar(&f.listen, "listen", "", "override edge.listen")
	fl.StringVar(&f.listenTLS, "listen-tls", "", `override edge.listen_tls, the HTTPS (and HTTP/3) address ("off" disables it)`)
	fl.StringVar(&f.admin, "admin", "", `override admin.listen ("off" disables it)`)
	fl.StringVar(&f.accessLog, "access-log", "", `override edge.access_log: "stdout", "stderr" or a file`)
	fl.StringVar(&f.dataDir, "data-dir", "", "keep the last good configuration here, for restarts while the control plane is away")
	return cmd
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
large downloads), with the control plane and a 1GiB disk cache kept under
./tern-data (--data-dir to move it, --data-dir off for neither), and the DNS
request router on 127.0.0.1:8053 for the zone cdn.localhost, whose one POP is
this edge (--router-listen to move it, --router-listen off for none), and
HTTPS (HTTP/1.1, HTTP/2, HTTP/3) on 127.0.0.1:8443 with a self-signed
certificate kept under the data dir (--listen-tls to move it, --listen-tls
off for none); it prints what to curl and dig.

With a router section in the configuration it runs the router too.

With --data-dir it also runs the control plane: an embedded NATS server keeps
the distributions (the configuration file's are carried over on first start),
the control API on the admin listener (/api/v1/, bearer token in
DATA-DIR/admin-token) changes them, and the edge applies each revision whole,
keeping the last good one for restarts. The CLI finds it through the same
--data-dir (or ./tern-data).

Signals: SIGHUP reloads the configuration file (a bad file is refused and the
running one kept; with --data-dir the file's distributions are not reloaded,
the control plane owns them, but its policies are) and reopens the access
log; SIGINT or SIGTERM drain and stop.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("data-dir") && f.config == "" {
				f.dataDir = demoDataDir
			}
			if f.dataDir == "off" {
				f.dataDir = ""
			}
			if _, _, err := splitDemoOrigin(f.demoOrigin); err != nil {
				return err
			}
			if err := f.makeDemoTLS(); err != nil {
				return err
			}
			return serve(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "configuration file (YAML); default: the built-in example with a demo origin")
	fl.StringVar(&f.listen, "listen", "", "override edge.listen")
	fl.StringVar(&f.listenTLS, "listen-tls", "", `override edge.listen_tls, the HTTPS (and HTTP/3) address ("off" disables it);
the built-in example serves HTTPS on `+demoListenTLS+` with a self-signed certificate
kept under the data dir`)
	fl.StringVar(&f.admin, "admin", "", `override admin.listen ("off" disables it)`)
	fl.StringVar(&f.accessLog, "access-log", "", `override edge.access_log: "stdout", "stderr" or a file`)
	fl.StringVar(&f.demoOrigin, "demo-origin", defaultDemoOrigin, "where the built-in example's demo origin listens (only without --config)")
	fl.StringVar(&f.routerListen, "router-listen", "", `override router.listen, the router's DNS address (UDP and TCP); "off" runs no router`)
	fl.StringVar(&f.dataDir, "data-dir", "", `run the control plane too: embedded NATS, the distributions (seeded from the
configuration file on first start, then changed through the API and "tern apply")
and a generated admin token, all kept under this directory; without --config the
default is ./`+demoDataDir+` ("off": no control plane)`)
	return cmd
}

func loadConfig(f serveFlags) (*config.Config, error) {
	var c *config.Config
	var err error
	if f.config == "" {
		c, err = config.Parse(f.defaultBase())
	} else {
		c, err = config.Load(f.config)
	}
	if err != nil {
		return nil, err
	}
	f.override(c)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// override puts the flags that override the configuration file into c:
// at start, and into every configuration the control plane's revisions
// assemble with the file.
func (f serveFlags) override(c *config.Config) {
	if f.listen != "" {
		c.Edge.Listen = f.listen
	}
	if f.admin != "" {
		c.Admin.Listen = f.admin
	}
	if f.accessLog != "" {
		c.Edge.AccessLog = f.accessLog
	}
	f.overrideTLS(c)
	if f.pop != "" {
		c.Edge.POP = f.pop
	}
	if f.nodeID != "" {
		c.Edge.NodeID = f.nodeID
	}
	if f.config == "" && !f.edgeMode() && f.demoOrigin != defaultDemoOrigin {
		pointDemoOrigin(c, f.demoOrigin)
	}
	switch {
	case f.routerListen == "off":
		c.Router = nil
	case f.routerListen != "" && c.Router != nil:
		c.Router.Listen = f.routerListen
	}
	if f.config == "" && !f.edgeMode() {
		pointDemoPOP(c)
	}
}

// pointDemoPOP gives the example's one POP the edge's address, so that the
// router sends the demo's viewers to the edge that --listen put elsewhere.
// An edge on every address (":8080") keeps the loopback one.
func pointDemoPOP(c *config.Config) {
	if c.Router == nil || len(c.Router.POPs) != 1 {
		return
	}
	host, _, err := net.SplitHostPort(c.Edge.Listen)
	if err != nil {
		return
	}
	if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() && ip.Zone() == "" {
		c.Router.POPs[0].Addresses = []string{ip.Unmap().String()}
	}
}

// The built-in example's defaults.
const (
	defaultDemoOrigin = "127.0.0.1:8081"
	demoDataDir       = "tern-data" // tern serve with no --config
	demoDiskSize      = "1GiB"      // its disk tier, under the data dir
)

// splitDemoOrigin checks a --demo-origin address.
func splitDemoOrigin(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("--demo-origin %q: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", 0, fmt.Errorf("--demo-origin %q: port must be 1-65535", addr)
	}
	return host, p, nil
}

// pointDemoOrigin moves the example's demo origin to another address (one
// splitDemoOrigin accepted). Only the example's own origin moves: the
// distributions added through the control plane keep theirs.
func pointDemoOrigin(c *config.Config, addr string) {
	host, p, err := splitDemoOrigin(addr)
	if err != nil {
		return
	}
	for _, d := range c.Distributions {
		if d.ID != "demo" {
			continue
		}
		for _, o := range d.Origins {
			if o.ID == "demo-origin" {
				o.DomainName, o.HTTPPort = host, p
			}
		}
	}
}

func serve(ctx context.Context, out io.Writer, f serveFlags) error {
	// What the router adds to the banner, and for the demo the generated
	// name and DNS address its dig and curl lines use.
	routerBanner, demoName, demoDNS := "", "", ""
	c, err := loadConfig(f)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if f.routerListen != "" && f.routerListen != "off" && c.Router == nil {
		return errors.New("--router-listen: the configuration has no router section")
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

	// One geo database for the edge's viewer headers and the router.
	geoDB, err := geo.Open(c.Geo.Database, c.Geo.ASNDatabase)
	if err != nil {
		return err
	}
	defer geoDB.Close()
	// A database updated on disk goes in service without a restart.
	go geoDB.Watch(ctx, geo.WatchInterval)
	var locator geo.Locator // none: the viewer location headers are left out
	if c.Geo.Database != "" || c.Geo.ASNDatabase != "" {
		locator = geoDB
	}
	srv, err := edge.New(edge.Options{Config: c, Storage: tiers.store, AccessLog: accessLog, Metrics: metrics,
		Bodies: tiers.bodies(), BodiesMax: int64(c.Edge.Cache.DiskMaxObjectSize),
		Slices: tiers.slices(), Locator: locator})
	if err != nil {
		return err
	}
	defer srv.Close()

	// HTTPS (edge.listen_tls): the certificates are loaded and checked
	// before anything serves, and follow every configuration applied; the
	// listeners start with the others below.
	var https *edgeHTTPS
	httpsCtx, stopHTTPS := context.WithCancel(ctx)
	defer stopHTTPS()
	if c.Edge.ListenTLS != "" {
		https, err = newEdgeHTTPS(c, f.dataDir)
		switch {
		case err != nil && f.demoHTTPS():
			slog.Warn("the example's HTTPS listener is not running", "error", err)
		case err != nil:
			return err
		}
	}

	// The router, when configured, answers for the distributions the edge
	// serves: the link's, or the file's.
	rh := &routerHolder{dists: c.Distributions}

	// With a control plane, the distributions are the config bucket's: the
	// link applies them (and the last good ones first) and follows the
	// invalidation stream.
	var cp *controlPlane
	var link *edgeLink
	if f.dataDir != "" || f.edgeMode() {
		base, source := f.defaultBase()
		if f.config != "" {
			if base, err = os.ReadFile(f.config); err != nil {
				return fmt.Errorf("configuration: %w", err)
			}
			source = f.config
		}
		stateFile := ""
		if f.dataDir != "" {
			if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
				return fmt.Errorf("--data-dir: %w", err)
			}
			stateFile = filepath.Join(f.dataDir, dataState)
		}
		link = newEdgeLink(c, base, source, stateFile, func(nc *config.Config) error {
			f.override(nc)
			if err := applyNode(nc, srv, https); err != nil {
				return err
			}
			rh.apply(nc)
			return nil
		}, srv)
		if f.dataDir != "" {
			link.positionFile = filepath.Join(f.dataDir, dataPosition)
		}
		link.totals = func() (telemetry.Summary, error) { return telemetry.Summarize(reg) }
		linkCtx, stopLink := context.WithCancel(ctx)
		defer func() {
			// What uses the bus stops before the bus.
			stopLink()
			link.close(f.edgeMode())
			if cp != nil {
				cp.close()
			}
		}()
		// What was last applied serves until the bucket's state is in (and
		// stays if that state is refused, e.g. with a changed file).
		if ok, err := link.watcher.LoadState(); err != nil {
			slog.Warn("last good configuration not applied", "error", err)
		} else if ok {
			slog.Info("serving the last good configuration", "revision", link.watcher.Status().Revision)
		}
		if f.edgeMode() {
			token, err := f.natsTokenValue()
			if err != nil {
				return err
			}
			if err := link.connect(linkCtx, f.nats, f.natsDomain, token, f.connectTimeout); err != nil {
				return fmt.Errorf("--nats: %w", err)
			}
		} else {
			cp, err = startControlPlane(linkCtx, controlOptions{dir: f.dataDir, base: base, baseSource: source})
			if err != nil {
				return fmt.Errorf("control plane: %w", err)
			}
			// In one process the bus is always there: the edge follows it
			// before it serves, with the control plane's registry of nodes.
			link.members = cp.edges
			if err := link.follow(linkCtx, cp.conn, time.Minute); err != nil {
				return fmt.Errorf("control plane: %w", err)
			}
		}
	}

	errc := make(chan error, 4)
	var servers []*http.Server

	routerCtx, stopRouter := context.WithCancel(ctx)
	defer stopRouter()
	if c.Router != nil {
		if f.edgeMode() {
			slog.Warn("the router section is for tern serve and tern router; tern edge does not run the router")
		} else {
			o := router.Options{Config: c.Router, Locator: geoDB}
			if cp != nil {
				o.Health = router.EdgesHealth(cp.edges)
			}
			r := router.New(o)
			rh.set(r)
			if cp != nil {
				// The operator's drains ("tern drain") are the control
				// plane's, in this process: no state file is needed.
				drains := control.NewDrainWatcher("", r.SetDrains)
				go func() {
					if err := drains.RunOn(routerCtx, cp.kv); err != nil {
						slog.Error("following the drained POPs ended", "error", err)
					}
				}()
				select {
				case <-drains.Synced():
				case <-time.After(10 * time.Second):
					slog.Warn("the drained POPs are not in yet; answering as if none were")
				}
			}
			go r.Run(routerCtx)
			dnsAddr, httpAddr, wait, err := startRouter(routerCtx, r, c.Router, errc)
			switch {
			case err != nil && f.config == "" && f.routerListen == "":
				// The demo's router is an extra: a machine whose port 8053
				// is taken (a local resolver, another demo) still gets the
				// CDN, and is told how to have the router too.
				slog.Warn("the example's router is not running: its port is taken (--router-listen ADDR moves it)", "error", err)
				routerBanner = fmt.Sprintf("  router: not running (%v; --router-listen ADDR moves it)\n", err)
			case err != nil:
				return err
			}
			if err == nil {
				defer func() {
					stopRouter()
					wait() // the servers stop before the database closes
				}()
				routerBanner, demoName, demoDNS = routerLines(c.Router, r, dnsAddr, httpAddr, f.config == "")
			}
		}
	}

	if f.config == "" && !f.edgeMode() {
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
		Handler:           https.plainHandler(srv),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug),
	}
	servers = append(servers, edgeSrv)
	go func() { errc <- serveOn(edgeSrv, edgeLn, "edge") }()
	httpsAddr := ""
	if https != nil {
		err := https.start(httpsCtx, c, srv, errc)
		switch {
		case err != nil && f.demoHTTPS():
			// The demo's HTTPS is an extra, as its router is.
			slog.Warn("the example's HTTPS listener is not running (--listen-tls ADDR moves it)", "error", err)
		case err != nil:
			shutdown(servers)
			return err
		default:
			defer https.shutdown(context.Background())
			servers = append(servers, https.tcp)
			httpsAddr = https.addr
		}
	}
	if link != nil {
		adv := c.Edge.AdvertisedTierAddress(edgeLn.Addr().String())
		if adv == "" {
			slog.Info("not advertised for tier-to-tier requests: edge.listen names no host other nodes can reach; set edge.tier_address to take them (this node still fetches through its peers and shields)",
				"listen", c.Edge.Listen)
		}
		link.tierAddr.Store(&adv)
	}

	adminAddr := ""
	if c.Admin.Enabled() {
		adminLn, err := net.Listen("tcp", c.Admin.Listen)
		if err != nil {
			return fmt.Errorf("admin listen: %w", err)
		}
		adminAddr = adminLn.Addr().String()
		as := &http.Server{Handler: adminHandler(reg, c, tiers, srv, cp, link, rh.get()), ReadHeaderTimeout: 10 * time.Second}
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
	nDist := len(c.Distributions)
	if link != nil {
		nDist = len(srv.DistributionIDs())
	}
	printBanner(out, c, nDist, edgeLn.Addr().String(), httpsAddr, adminAddr, f, routerBanner, demoName, demoDNS)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			reload(f, srv, https, accessLog, cp, link, rh)
		case err := <-errc:
			shutdown(servers)
			return err
		case <-ctx.Done():
			shutdown(servers)
			return nil
		}
	}
}

// routerHolder hands the distributions in service to the router, which
// may start after the first ones are applied.
type routerHolder struct {
	mu    sync.Mutex
	r     *router.Router
	dists []*config.Distribution
}

// apply gives c's distributions to the router (now or when it starts).
func (h *routerHolder) apply(c *config.Config) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dists = c.Distributions
	if h.r != nil {
		if c.Router != nil {
			h.r.SetConfig(c.Router) // pops, drained, ttl; not the listeners
		}
		h.r.SetDistributions(c.Distributions)
	}
}

func (h *routerHolder) set(r *router.Router) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.r = r
	r.SetDistributions(h.dists)
}

func (h *routerHolder) get() *router.Router {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.r
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
func reload(f serveFlags, srv *edge.Server, https *edgeHTTPS, accessLog *telemetry.AccessLog, cp *controlPlane, link *edgeLink, rh *routerHolder) {
	if accessLog != nil {
		if err := accessLog.Reopen(); err != nil {
			slog.Error("reopen access log", "error", err)
		}
	}
	if f.config == "" {
		return
	}
	if link != nil {
		// The distributions are the control plane's; the file gives the
		// policies they are validated and applied with.
		base, err := os.ReadFile(f.config)
		if err == nil && cp != nil {
			err = cp.store.SetBase(base, f.config)
		}
		if err == nil {
			err = link.watcher.SetBase(base, f.config)
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
	if err := applyNode(c, srv, https); err != nil {
		slog.Error("reload refused, keeping the running configuration", "file", f.config, "error", err)
		return
	}
	rh.apply(c)
	slog.Info("configuration reloaded", "file", f.config, "distributions", len(c.Distributions))
}

func adminHandler(reg *prometheus.Registry, c *config.Config, tiers *cacheTiers, srv *edge.Server, cp *controlPlane, link *edgeLink, rt *router.Router) http.Handler {
	mux := http.NewServeMux()
	if rt != nil {
		mux.Handle("GET /route", rt.ExplainHandler()) // tern route
	}
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
		if link != nil {
			st["distributions"] = srv.DistributionIDs()
			st["config"] = link.watcher.Status()
			st["control_plane"] = link.status()
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
		io.WriteString(w, "Tern admin\n  /metrics        Prometheus metrics\n  /healthz        liveness\n  /status         node, cache tiers and distributions (JSON)\n  /cache/objects  stored objects: ?distribution=D&path=/prefix&limit=N (JSON)\n  /cache/purge    POST ?distribution=D&path=/a.jpg&path=/img/*&tag=T[&soft=1] removes them from every tier (soft: marks them stale)\n  /api/v1/        the control API (with --data-dir; bearer token)\n  /route          ?client=IP&name=NAME: the router's choice, explained (with router:)\n  /debug/pprof/   Go profiles\n")
	})
	return mux
}

// reachable is how this machine reaches a listener bound to host (an IP
// address): the loopback address for every address, IPv6 in brackets.
func reachable(host string) string {
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil || ip.IsUnspecified():
		return "127.0.0.1"
	case ip.Is6():
		return "[" + host + "]"
	}
	return host
}

// printBanner says what runs where. routerText is the router's lines ("" if
// none); for the demo, demoName is its distribution's generated name and
// dnsAddr the router's DNS address, for a dig and a curl line.
func printBanner(out io.Writer, c *config.Config, distributions int, edgeAddr, httpsAddr, adminAddr string, f serveFlags, routerText, demoName, dnsAddr string) {
	base := "http://" + edgeAddr
	var b strings.Builder
	fmt.Fprintf(&b, "Tern %s: edge %s (node %s, pop %s), %d distribution(s)\n", version, base, c.Edge.NodeID, c.Edge.POP, distributions)
	b.WriteString(httpsBanner(c, httpsAddr))
	if f.edgeMode() {
		fmt.Fprintf(&b, "  control plane: NATS %s\n", redactURL(f.nats))
	}
	if adminAddr != "" {
		fmt.Fprintf(&b, "  admin:   http://%s/metrics  /healthz  /status\n", adminAddr)
	}
	if f.dataDir != "" && !f.edgeMode() {
		fmt.Fprintf(&b, "  control plane: state in %s", f.dataDir)
		if adminAddr != "" {
			fmt.Fprintf(&b, ", API http://%s/api/v1/ (token in %s)", adminAddr, filepath.Join(f.dataDir, dataToken))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  cache:   memory %s", c.Edge.Cache.Memory)
	for i, d := range c.Edge.Cache.Disk {
		fmt.Fprintf(&b, ", disk%d %s at %s", i, d.Size, d.Path)
	}
	b.WriteString("\n")
	if c.Edge.AccessLog != "" {
		fmt.Fprintf(&b, "  access log: %s\n", c.Edge.AccessLog)
	}
	b.WriteString(routerText)
	if f.config == "" && !f.edgeMode() {
		fmt.Fprintf(&b, "  demo origin: http://%s/ (built-in example; use --config FILE for your own)\n\n", f.demoOrigin)
		fmt.Fprintf(&b, "Open %s/ in a browser, or try:\n", base)
		fmt.Fprintf(&b, "  curl -si %s/ | grep -iE '^(x-cache|age)'          # Miss, then Hit\n", base)
		fmt.Fprintf(&b, "  curl -si %s/api/time                              # 5 s TTL, stale-while-revalidate\n", base)
		fmt.Fprintf(&b, "  curl -si -H 'Range: bytes=0-99' %s/download/big.bin -o /dev/null -D -\n", base)
		if httpsAddr != "" {
			fmt.Fprintf(&b, "  curl -ski https://%s/ | head -1                         # HTTPS and HTTP/2 (self-signed: -k)\n", reachableAddr(httpsAddr))
		}
		if demoName != "" {
			dnsHost, dnsPort, _ := net.SplitHostPort(dnsAddr)
			edgeHost, edgePort, _ := net.SplitHostPort(edgeAddr)
			dnsHost, edgeHost = reachable(dnsHost), reachable(edgeHost)
			fmt.Fprintf(&b, "  dig @%s -p %s +short %s                 # the router: the POP's address\n", dnsHost, dnsPort, demoName)
			fmt.Fprintf(&b, "  curl -si --resolve %s:%s:%s http://%s:%s/   # the demo at its generated name\n",
				demoName, edgePort, edgeHost, demoName, edgePort)
		}
		if adminAddr != "" {
			fmt.Fprintf(&b, "  curl -s  http://%s/metrics | grep tern_requests\n", adminAddr)
		}
		if f.dataDir != "" && adminAddr != "" {
			dd := ""
			if f.dataDir != demoDataDir {
				dd = " --data-dir " + f.dataDir
			}
			fmt.Fprintf(&b, "  tern invalidate demo '/*' --wait 10s%s          # purge every edge (go run ./cmd/tern ...)\n", dd)
			fmt.Fprintf(&b, "  tern edges%s\n", dd)
		}
	}
	io.WriteString(out, b.String())
}

// routerLines is the banner's text for a running router, and for the
// demo (demo true) its distribution's generated name and the DNS address,
// for the banner's dig and curl lines.
func routerLines(c *config.Router, r *router.Router, dnsAddr, httpAddr string, demo bool) (text, demoName, demoDNS string) {
	var b strings.Builder
	fmt.Fprintf(&b, "  router: DNS for %s on %s (udp, tcp)", c.Zone, dnsAddr)
	if httpAddr != "" {
		fmt.Fprintf(&b, ", HTTP redirects on %s", httpAddr)
	}
	b.WriteString("\n")
	writeNames(&b, r.Names())
	if names := r.Names()["demo"]; demo && len(names) > 0 {
		demoName, demoDNS = names[0], dnsAddr
	}
	return b.String(), demoName, demoDNS
}
