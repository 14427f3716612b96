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
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/geo"
	"github.com/terncdn/tern/router"
)

type routerFlags struct {
	config         string
	listen         string
	admin          string
	nats           string
	natsToken      string
	natsTokenFile  string
	natsDomain     string
	dataDir        string
	connectTimeout time.Duration
}

func routerCmd() *cobra.Command {
	f := routerFlags{}
	cmd := &cobra.Command{
		Use:   "router --config FILE [--nats URL [--data-dir DIR]]",
		Short: "Run the DNS request router: viewers to the nearest healthy POP",
		Long: `Router is the authoritative DNS server for the distributions' names under
router.zone: it answers each viewer with the addresses of the nearest healthy
POP (router.pops), placed by its EDNS Client Subnet, else its resolver's
address, in the geo database (geo.database).

With --nats it follows a control plane ("tern control"): the distributions come
from it, a POP is healthy while one of its edges heartbeats (within 3 s), and
an operator drains a POP at run time ("tern drain POP") as well as with
router.pops[].drained in the file; either takes it out of answers. Without
--nats the configuration file's distributions are answered and every POP not
drained counts healthy.

The router answers whether or not its control plane is there. With --data-dir
it answers at once from the distributions and drains it last had (kept there)
and links in the background; with nothing kept it waits up to
--connect-timeout for the control plane, then answers the file's
distributions and keeps connecting (a log line per try, 1 s doubling to 30 s
apart). While the control plane is away the router keeps the last liveness it
read for 30 s, then counts every POP not drained healthy; drains stay.

Each distribution is answered at "d<8 hex digits>.<zone>" and at its aliases
under the zone; /status on the admin listener lists the names, and
"tern route --client IP NAME" explains a decision. Each POP is answered at
"<pop>.<zone>" and the names under it with its own addresses, pinned.

With router.http_listen it also answers HTTP: a 302 from a distribution's
name to "<d-label>.<pop>.<zone>" (or under the POP's http_host) at the
chosen POP, with the same path, query and port.

Signals: SIGHUP reloads the configuration file's router section (pops,
drained, ttl, zone, nameservers, default_pop) and, without --nats, its
distributions; a bad file is refused and the running configuration kept. New
listeners (router.listen, router.http_listen, admin.listen) and a new geo
database take a restart. SIGINT or SIGTERM stop.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.config == "" {
				return errors.New("--config: required (a file with a router section)")
			}
			if f.dataDir != "" && f.nats == "" {
				return errors.New("--data-dir: only with --nats (it keeps what the control plane sent, for a start without it)")
			}
			if f.connectTimeout <= 0 {
				return fmt.Errorf("--connect-timeout %v: must be above 0", f.connectTimeout)
			}
			return runRouter(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "configuration file with the router (and geo) sections")
	fl.StringVar(&f.listen, "listen", "", "override router.listen")
	fl.StringVar(&f.admin, "admin", "", `override admin.listen ("off" disables it): /healthz, /status and /route`)
	fl.StringVar(&f.nats, "nats", "", "the control plane's NATS server, e.g. nats://10.0.0.2:4222")
	fl.StringVar(&f.natsToken, "nats-token", "", "NATS token (default $TERN_NATS_TOKEN)")
	fl.StringVar(&f.natsTokenFile, "nats-token-file", "", "read the NATS token from this file")
	fl.StringVar(&f.natsDomain, "nats-domain", "", "the control plane's JetStream domain, when --nats is a leaf node")
	fl.StringVar(&f.dataDir, "data-dir", "", "with --nats: keep the last distributions and drained POPs here, to answer with them when the router starts without its control plane")
	fl.DurationVar(&f.connectTimeout, "connect-timeout", 10*time.Second, "with nothing kept under --data-dir: how long to wait for the control plane at start before answering the file's distributions")
	return cmd
}

// loadRouterConfig reads the router's configuration file with the
// flags' overrides, valid and with a router section.
func loadRouterConfig(f routerFlags) ([]byte, *config.Config, error) {
	base, err := os.ReadFile(f.config)
	if err != nil {
		return nil, nil, err
	}
	c, err := config.Parse(base, f.config)
	if err != nil {
		return nil, nil, err
	}
	if c.Router == nil {
		return nil, nil, fmt.Errorf("%s has no router section", f.config)
	}
	if f.listen != "" {
		c.Router.Listen = f.listen
	}
	if f.admin != "" {
		c.Admin.Listen = f.admin
	}
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	return base, c, nil
}

func runRouter(ctx context.Context, out io.Writer, f routerFlags) error {
	base, c, err := loadRouterConfig(f)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	db, err := geo.Open(c.Geo.Database, c.Geo.ASNDatabase)
	if err != nil {
		return err
	}
	defer db.Close()
	// A database updated on disk goes in service without a restart.
	go db.Watch(ctx, geo.WatchInterval)

	o := router.Options{Config: c.Router, Locator: db}
	var link *routerLink
	if f.nats != "" {
		sf := serveFlags{natsToken: f.natsToken, natsTokenFile: f.natsTokenFile}
		token, err := sf.natsTokenValue()
		if err != nil {
			return err
		}
		link = newRouterLink(f, token)
		o.Health = link.health
	}
	r := router.New(o)
	r.SetDistributions(c.Distributions)
	if link != nil {
		linkCtx, stopLink := context.WithCancel(ctx)
		defer func() {
			stopLink()
			link.close()
		}()
		if err := link.start(linkCtx, r, f.connectTimeout, f, base); err != nil {
			return fmt.Errorf("--nats: %w", err)
		}
	}
	go r.Run(ctx)

	sctx, stopServers := context.WithCancel(ctx)
	defer stopServers()
	errc := make(chan error, 3)
	dnsAddr, httpAddr, wait, err := startRouter(sctx, r, c.Router, errc)
	if err != nil {
		return err
	}
	defer wait() // after stopServers, before the database closes
	var servers []*http.Server
	adminAddr := ""
	if c.Admin.Enabled() {
		ln, err := net.Listen("tcp", c.Admin.Listen)
		if err != nil {
			return fmt.Errorf("admin listen: %w", err)
		}
		adminAddr = ln.Addr().String()
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
		mux.Handle("GET /route", r.ExplainHandler())
		mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
			st := map[string]any{"version": version, "role": "router", "zone": r.Config().Zone, "dns": dnsAddr, "names": r.Names()}
			if link != nil {
				st["config"] = link.watcher.Status()
				st["control_plane"] = link.status()
				st["drains"] = link.drains.Drains()
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(st)
		})
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, hs)
		go func() { errc <- serveOn(hs, ln, "admin") }()
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Tern %s: router for %s, DNS on %s (udp, tcp)\n", version, c.Router.Zone, dnsAddr)
	if httpAddr != "" {
		fmt.Fprintf(&b, "  HTTP redirects: http://%s/\n", httpAddr)
	}
	if adminAddr != "" {
		fmt.Fprintf(&b, "  admin: http://%s/status  /route?client=IP&name=NAME\n", adminAddr)
	}
	if f.nats != "" {
		fmt.Fprintf(&b, "  control plane: NATS %s\n", redactURL(f.nats))
	}
	writeNames(&b, r.Names())
	io.WriteString(out, b.String())

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
wait:
	for {
		select {
		case <-hup:
			reloadRouter(f, c, r, link)
		case err = <-errc:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	stopServers()
	shutdown(servers)
	return err
}

// reloadRouter reads the configuration file again and puts its router
// section in service (and its distributions, without a control plane). A
// bad file is refused whole. The listeners and the geo database stay as
// started: changing them takes a restart, which the log says.
func reloadRouter(f routerFlags, started *config.Config, r *router.Router, link *routerLink) {
	base, c, err := loadRouterConfig(f)
	if err == nil && link != nil {
		// The control plane's distributions are assembled with the file
		// (its policies); a file they do not assemble with is refused.
		err = link.watcher.SetBase(base, f.config)
	}
	if err != nil {
		slog.Error("reload refused, keeping the running configuration", "file", f.config, "error", err)
		return
	}
	restart := func(field, was, now string) {
		if was != now {
			slog.Warn(field+" changed: it takes a restart; the one started with stays until then", "running", was, "file", now)
		}
	}
	restart("router.listen", started.Router.Listen, c.Router.Listen)
	restart("router.http_listen", started.Router.HTTPListen, c.Router.HTTPListen)
	restart("admin.listen", started.Admin.Listen, c.Admin.Listen)
	restart("geo.database", started.Geo.Database, c.Geo.Database)
	restart("geo.asn_database", started.Geo.ASNDatabase, c.Geo.ASNDatabase)
	r.SetConfig(c.Router)
	if link == nil {
		r.SetDistributions(c.Distributions)
	}
	var drained []string
	for _, p := range c.Router.POPs {
		if p.Drained {
			drained = append(drained, p.Name)
		}
	}
	slog.Info("configuration reloaded", "file", f.config, "pops", len(c.Router.POPs), "drained_in_file", drained, "zone", c.Router.Zone)
}

// startRouter binds the router's DNS listeners (and its HTTP one, if
// configured) and serves them until ctx ends; a server's failure goes to
// errc. It returns the addresses bound, and a wait for the servers to
// have stopped once ctx ended (before what they use, the geo database,
// is closed).
func startRouter(ctx context.Context, r *router.Router, c *config.Router, errc chan<- error) (dnsAddr, httpAddr string, wait func(), err error) {
	pc, ln, err := router.ListenDNS(c.Listen)
	if err != nil {
		return "", "", nil, err
	}
	var hl net.Listener
	if c.HTTPListen != "" {
		if hl, err = net.Listen("tcp", c.HTTPListen); err != nil {
			pc.Close()
			ln.Close()
			return "", "", nil, fmt.Errorf("router.http_listen: %w", err)
		}
		httpAddr = hl.Addr().String()
	}
	var running sync.WaitGroup
	running.Go(func() {
		if err := r.Serve(ctx, pc, ln); err != nil {
			errc <- err
		}
	})
	if hl != nil {
		hs := &http.Server{Handler: r.HTTPHandler(), ReadHeaderTimeout: 10 * time.Second}
		running.Go(func() {
			if err := serveOn(hs, hl, "router HTTP"); err != nil {
				errc <- err
			}
		})
		running.Go(func() {
			<-ctx.Done()
			shutdown([]*http.Server{hs})
		})
	}
	return pc.LocalAddr().String(), httpAddr, running.Wait, nil
}

func writeNames(b *strings.Builder, names map[string][]string) {
	ids := make([]string, 0, len(names))
	for id := range names {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(b, "  distribution %s: %s\n", id, strings.Join(names[id], ", "))
	}
}

func routeCmd() *cobra.Command {
	var admin string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "route --client IP NAME",
		Short: "Explain which POP the router sends a client to, and why",
		Long: `Route asks a running router (its admin listener: tern router's, or tern
serve's when it runs the router) which POP it would answer NAME with for a
client at IP: what the geo database knows of the client, each POP's distance
and health, and the choice; with router.http_listen, where the HTTP mode's
302 sends the client.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, _ := cmd.Flags().GetString("client")
			if client == "" {
				return errors.New("--client: required (the viewer's or its resolver's IP address)")
			}
			u := "http://" + admin + "/route?" + url.Values{"client": {client}, "name": {args[0]}}.Encode()
			hc := &http.Client{Timeout: 10 * time.Second}
			resp, err := hc.Get(u)
			if err != nil {
				return fmt.Errorf("ask the router at %s: %w", admin, err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return fmt.Errorf("ask the router at %s: %w", admin, err)
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("ask the router at %s: %s: %s", admin, resp.Status, strings.TrimSpace(string(body)))
			}
			if asJSON {
				_, err := cmd.OutOrStdout().Write(body)
				return err
			}
			var d router.Decision
			if err := json.Unmarshal(body, &d); err != nil {
				return fmt.Errorf("ask the router at %s: %w", admin, err)
			}
			writeDecision(cmd.OutOrStdout(), d)
			return nil
		},
	}
	cmd.Flags().String("client", "", "the client's IP address (an ECS subnet's address, or the resolver's)")
	cmd.Flags().StringVar(&admin, "router", "127.0.0.1:9090", "the router's admin listener, host:port")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the decision as JSON")
	return cmd
}

func writeDecision(w io.Writer, d router.Decision) {
	var b strings.Builder
	dist := "not a distribution's name"
	if d.Distribution != "" {
		dist = "distribution " + d.Distribution
	}
	fmt.Fprintf(&b, "%s (%s), client %s\n", d.Name, dist, d.Client)
	l := d.Location
	switch {
	case d.Located:
		place := strings.Trim(strings.Join([]string{l.City, l.Region, l.Country}, ", "), ", ")
		fmt.Fprintf(&b, "  location: %s (%.4f, %.4f)", place, l.Latitude, l.Longitude)
		if l.ASN != 0 {
			fmt.Fprintf(&b, ", AS%d", l.ASN)
		}
		b.WriteString("\n")
	case l.Country != "":
		fmt.Fprintf(&b, "  location: %s, no coordinates: placed at the default POP\n", l.Country)
	default:
		b.WriteString("  location: unknown: placed at the default POP\n")
	}
	fmt.Fprintf(&b, "  %-16s %10s  %s\n", "POP", "distance", "health")
	for _, p := range d.POPs {
		h := fmt.Sprintf("healthy, %d live edge(s)", p.LiveEdges)
		switch {
		case p.Operator != nil:
			h = "drained (by operator"
			if p.Operator.Reason != "" {
				h += ": " + p.Operator.Reason
			}
			h += ")"
			if p.DrainedInConfig {
				h += ", and in the configuration"
			}
		case p.Drained:
			h = "drained (in the configuration)"
		case !p.Healthy:
			h = "down (no live edge)"
		}
		mark := " "
		if p.Name == d.POP {
			mark = "*"
		}
		fmt.Fprintf(&b, "%s %-16s %8.0fkm  %s\n", mark, p.Name, p.DistanceKm, h)
	}
	fmt.Fprintf(&b, "  chosen: %s (%s): %s\n", d.POP, d.Reason, strings.Join(d.Addresses, " "))
	if d.Redirect != "" {
		fmt.Fprintf(&b, "  HTTP mode: 302 to http://%s/<path>, the request's port kept unless http_host has one\n", d.Redirect)
	}
	io.WriteString(w, b.String())
}
