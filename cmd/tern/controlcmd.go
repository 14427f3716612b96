package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/telemetry"
)

type controlCmdFlags struct {
	config      string
	dataDir     string
	listen      string
	nats        string
	natsToken   string
	natsTokFile string
	embedded    bool
	natsListen  string
	leafListen  string
	tlsCert     string
	tlsKey      string
}

func controlCmd() *cobra.Command {
	f := controlCmdFlags{}
	cmd := &cobra.Command{
		Use:   "control --data-dir DIR [--config FILE]",
		Short: "Run the control plane for edges on other machines",
		Long: `Control runs the control plane alone: the distributions (kept in NATS
JetStream), the invalidation tracker, the registry of edges (from their
heartbeats) and the control API (/api/v1/, bearer token in DATA-DIR/admin-token)
on --listen. Edges ("tern edge --nats URL") follow it.

NATS is embedded by default (--embedded-nats): its store is under DATA-DIR, it
accepts edges on --nats-listen, and edges present the token it generates in
DATA-DIR/nats-token. With --nats URL the control plane uses an external NATS
server or cluster instead (JetStream enabled), which edges connect to as well,
directly or through a leaf node.

The configuration file (optional) gives the policies distributions are
validated with; its distributions seed the control plane on its first start.

Signals: SIGHUP reloads the configuration file's policies; SIGINT or SIGTERM
stop.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.dataDir == "" {
				return errors.New("--data-dir: required (the admin token and, with embedded NATS, its store are kept there)")
			}
			if f.nats != "" && cmd.Flags().Changed("embedded-nats") && f.embedded {
				return errors.New("--nats and --embedded-nats: give one")
			}
			if f.nats == "" && !f.embedded {
				return errors.New("--embedded-nats=false needs --nats URL")
			}
			if f.nats != "" && f.leafListen != "" {
				return errors.New("--nats-leaf-listen is for the embedded NATS server; configure leaf nodes on your own with --nats")
			}
			if (f.tlsCert == "") != (f.tlsKey == "") {
				return errors.New("--tls-cert and --tls-key: give both or neither")
			}
			return runControl(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "configuration file whose policies validate distributions (and whose distributions seed the first start)")
	fl.StringVar(&f.dataDir, "data-dir", "", "where the admin token, the embedded NATS store and the files the CLI and local edges read are kept")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:9000", "the control API's address")
	fl.BoolVar(&f.embedded, "embedded-nats", true, "run NATS in this process (the default without --nats)")
	fl.StringVar(&f.natsListen, "nats-listen", "127.0.0.1:4222", "where the embedded NATS server accepts edges")
	fl.StringVar(&f.leafListen, "nats-leaf-listen", "", `where the embedded NATS server accepts leaf nodes (a NATS server in a POP that
its edges connect to; they give --nats-domain `+bus.Domain+`); off when empty`)
	fl.StringVar(&f.nats, "nats", "", "use this external NATS server or cluster (JetStream enabled) instead of an embedded one")
	fl.StringVar(&f.natsToken, "nats-token", "", "token for the external NATS server (default $TERN_NATS_TOKEN)")
	fl.StringVar(&f.natsTokFile, "nats-token-file", "", "read the external NATS server's token from this file")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "serve the control API over HTTPS with this certificate (PEM; with --tls-key)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "the certificate's private key (PEM)")
	return cmd
}

func runControl(ctx context.Context, out io.Writer, f controlCmdFlags) error {
	base, source := []byte("{}\n"), "defaults (no --config)"
	if f.config != "" {
		var err error
		if base, err = os.ReadFile(f.config); err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		source = f.config
	}
	// The file must stand on its own: the edges' files are checked by the
	// edges, this one by the control plane.
	if _, err := config.Parse(base, source); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	var tlsConf *tls.Config
	var certPEM []byte
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		if certPEM, err = os.ReadFile(f.tlsCert); err != nil {
			return fmt.Errorf("--tls-cert: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	o := controlOptions{dir: f.dataDir, base: base, baseSource: source}
	if f.nats != "" {
		o.natsURL = f.nats
		sf := serveFlags{natsToken: f.natsToken, natsTokenFile: f.natsTokFile}
		var err error
		if o.natsToken, err = sf.natsTokenValue(); err != nil {
			return err
		}
	} else {
		o.natsListen, o.leafListen = f.natsListen, f.leafListen
	}
	cpCtx, stopCP := context.WithCancel(ctx)
	cp, err := startControlPlane(cpCtx, o)
	if err != nil {
		stopCP()
		return fmt.Errorf("control plane: %w", err)
	}
	defer func() {
		// What uses the connection stops before it closes.
		stopCP()
		cp.close()
	}()

	natsURL := f.nats
	if cp.bus != nil {
		natsURL = cp.bus.ClientURL()
		if err := os.WriteFile(filepath.Join(f.dataDir, dataNATSURL), []byte(natsURL+"\n"), 0o644); err != nil {
			return fmt.Errorf("--data-dir: %w", err)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tern_control_edges_alive", Help: "Edges whose last heartbeat is recent enough to count them alive.",
	}, func() float64 {
		n := 0
		for _, e := range cp.edges.List() {
			if e.Alive {
				n++
			}
		}
		return float64(n)
	}))

	mux := http.NewServeMux()
	mux.Handle("/api/v1/", cp.api)
	mux.Handle("GET /metrics", telemetry.Handler(reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		alive, total := 0, 0
		for _, e := range cp.edges.List() {
			total++
			if e.Alive {
				alive++
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"version": version, "role": "control", "nats": redactURL(natsURL),
			"nats_connected": cp.conn.NATS().IsConnected(),
			"edges":          map[string]int{"alive": alive, "known": total},
		})
	})

	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	scheme := "http"
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
		scheme = "https"
	}
	apiURL := scheme + "://" + ln.Addr().String()
	// The CLI with --data-dir trusts the certificate this API serves
	// (a self-signed one included).
	caPath := filepath.Join(f.dataDir, dataControlCA)
	if certPEM != nil {
		if err := os.WriteFile(caPath, certPEM, 0o644); err != nil {
			ln.Close()
			return fmt.Errorf("--data-dir: %w", err)
		}
	} else if err := os.Remove(caPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		ln.Close()
		return fmt.Errorf("--data-dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(f.dataDir, dataControlURL), []byte(apiURL+"\n"), 0o644); err != nil {
		ln.Close()
		return fmt.Errorf("--data-dir: %w", err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug)}
	errc := make(chan error, 1)
	go func() { errc <- serveOn(hs, ln, "control API") }()

	var b strings.Builder
	fmt.Fprintf(&b, "Tern %s: control plane, API %s/api/v1/ (token in %s)\n", version, apiURL, filepath.Join(f.dataDir, dataToken))
	if cp.bus != nil {
		fmt.Fprintf(&b, "  NATS:  %s (embedded; edges present the token in %s)\n", natsURL, filepath.Join(f.dataDir, dataNATSToken))
		fmt.Fprintf(&b, "  edges: tern edge --nats %s --nats-token-file %s --pop POP --node-id ID\n", natsURL, filepath.Join(f.dataDir, dataNATSToken))
		if f.leafListen != "" {
			fmt.Fprintf(&b, "  leaf nodes: remote nats-leaf://leaf:TOKEN@%s (TOKEN: %s); their edges add --nats-domain %s\n",
				f.leafListen, filepath.Join(f.dataDir, dataNATSToken), bus.Domain)
		}
	} else {
		fmt.Fprintf(&b, "  NATS:  %s (external)\n", redactURL(natsURL))
		fmt.Fprintf(&b, "  edges: tern edge --nats %s --pop POP --node-id ID\n", redactURL(natsURL))
	}
	fmt.Fprintf(&b, "  CLI:   tern get distributions --data-dir %s\n", f.dataDir)
	io.WriteString(out, b.String())

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			if f.config == "" {
				continue
			}
			nb, err := os.ReadFile(f.config)
			if err == nil {
				err = cp.store.SetBase(nb, f.config)
			}
			if err != nil {
				slog.Error("reload refused, keeping the running configuration", "file", f.config, "error", err)
				continue
			}
			slog.Info("configuration reloaded", "file", f.config)
		case err := <-errc:
			shutdown([]*http.Server{hs})
			return err
		case <-ctx.Done():
			shutdown([]*http.Server{hs})
			return nil
		}
	}
}

// redactURL hides a token or password in a NATS URL's user part.
func redactURL(u string) string {
	parts := strings.Split(u, ",")
	for i, p := range parts {
		if at := strings.LastIndex(p, "@"); at >= 0 {
			if s := strings.Index(p, "://"); s >= 0 && s < at {
				parts[i] = p[:s+3] + "***" + p[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}
