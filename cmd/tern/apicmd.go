package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/control"
)

// controlFlags find the control API: --control and --token, or the files
// `tern serve --data-dir` writes, or TERN_CONTROL and TERN_TOKEN.
type controlFlags struct {
	url, token, dataDir, caFile string
}

func (f *controlFlags) register(cmd *cobra.Command) {
	fl := cmd.PersistentFlags()
	fl.StringVar(&f.url, "control", "", "control API URL (default $TERN_CONTROL, or DATA-DIR/control-url, or ./tern-data's)")
	fl.StringVar(&f.token, "token", "", "control API token (default $TERN_TOKEN, or DATA-DIR/admin-token)")
	fl.StringVar(&f.dataDir, "data-dir", "", "the --data-dir of a \"tern serve\" or \"tern control\" on this machine: its URL, token (and TLS certificate) are read from it")
	fl.StringVar(&f.caFile, "ca-file", "", "trust the CA certificates in this PEM file for an HTTPS control API (default $TERN_CA_FILE; the system's roots are trusted too)")
}

// client resolves where the API is and with what token.
func (f *controlFlags) client() (*apiClient, error) {
	u, token := f.url, f.token
	if f.dataDir == "" && u == "" && os.Getenv("TERN_CONTROL") == "" && fileExists(filepath.Join(demoDataDir, dataControlURL)) {
		// `tern serve` with no --config, run from this directory.
		f.dataDir = demoDataDir
	}
	if f.dataDir != "" {
		if u == "" {
			b, err := os.ReadFile(filepath.Join(f.dataDir, dataControlURL))
			if err != nil {
				return nil, fmt.Errorf("--data-dir: %w (is tern serve --data-dir running?)", err)
			}
			u = strings.TrimSpace(string(b))
		}
		if token == "" {
			b, err := os.ReadFile(filepath.Join(f.dataDir, dataToken))
			if err != nil {
				return nil, fmt.Errorf("--data-dir: %w", err)
			}
			token = strings.TrimSpace(string(b))
		}
	}
	if u == "" {
		u = os.Getenv("TERN_CONTROL")
	}
	if token == "" {
		token = os.Getenv("TERN_TOKEN")
	}
	if u == "" {
		return nil, errors.New("no control API: give --control URL, --data-dir DIR or TERN_CONTROL")
	}
	if token == "" {
		return nil, errors.New("no token: give --token, --data-dir DIR or TERN_TOKEN")
	}
	if _, err := url.Parse(u); err != nil {
		return nil, fmt.Errorf("control API URL %q: %w", u, err)
	}
	caFile, caFlag := f.caFile, "--ca-file"
	if caFile == "" {
		caFile, caFlag = os.Getenv("TERN_CA_FILE"), "TERN_CA_FILE"
	}
	if caFile == "" && f.dataDir != "" {
		// A control plane serving HTTPS leaves its certificate here.
		if p := filepath.Join(f.dataDir, dataControlCA); fileExists(p) {
			caFile, caFlag = p, "--data-dir"
		}
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", caFlag, err)
		}
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", caFlag, caFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		hc.Transport = tr
	}
	return &apiClient{base: strings.TrimSuffix(u, "/") + "/api/v1", token: token, http: hc}, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

type apiClient struct {
	base, token string
	http        *http.Client
}

// apiError is the API's error document.
type apiError struct {
	Status string
	Err    string `json:"error"`
	Fields []struct {
		Field   string `json:"field"`
		Problem string `json:"problem"`
	} `json:"fields"`
}

func (e *apiError) Error() string {
	var b strings.Builder
	b.WriteString(e.Status)
	if e.Err != "" {
		b.WriteString(": " + e.Err)
	}
	for _, f := range e.Fields {
		line := f.Field + ": " + f.Problem
		if !strings.Contains(e.Err, line) { // the API's text may list them already
			b.WriteString("\n  " + line)
		}
	}
	return b.String()
}

// do sends one request; a non-2xx answer is an *apiError.
func (c *apiClient) do(method, path string, body []byte, hdr map[string]string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/yaml")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("control API: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("control API: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		e := &apiError{Status: resp.Status}
		if json.Unmarshal(b, e) != nil || e.Err == "" {
			e.Err = strings.TrimSpace(string(b))
		}
		return resp, b, e
	}
	return resp, b, nil
}

func applyCmd(cf *controlFlags) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or update the distribution in FILE through the control API",
		Long: `Apply sends the distribution in FILE (YAML or JSON, one distribution, as under
"distributions:" in a configuration file) to the control plane: it is created,
or replaced if its id exists. The control plane validates it with every other
distribution and refuses it whole, naming each bad field, or stores it; the
edges then apply it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("apply: -f FILE is required")
			}
			doc, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("apply: %w", err)
			}
			d, err := config.ParseDistribution(doc, file)
			if err != nil {
				return fmt.Errorf("apply: %w", err)
			}
			if d.ID == "" {
				return fmt.Errorf("apply: %s: the distribution has no id", file)
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			path := "/distributions/" + url.PathEscape(d.ID)
			resp, _, err := c.do(http.MethodGet, path, nil, nil)
			var ae *apiError
			switch {
			case err == nil:
				resp, _, err = c.do(http.MethodPut, path, doc, map[string]string{"If-Match": resp.Header.Get("ETag")})
				if err != nil {
					return fmt.Errorf("apply %s: %w", d.ID, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "distribution %s updated (revision %s)\n", d.ID, strings.Trim(resp.Header.Get("ETag"), `"`))
			case errors.As(err, &ae) && resp.StatusCode == http.StatusNotFound:
				resp, _, err = c.do(http.MethodPost, "/distributions", doc, nil)
				if err != nil {
					return fmt.Errorf("apply %s: %w", d.ID, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "distribution %s created (revision %s)\n", d.ID, strings.Trim(resp.Header.Get("ETag"), `"`))
			default:
				return fmt.Errorf("apply %s: %w", d.ID, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the distribution (YAML or JSON)")
	return cmd
}

func getCmd(cf *controlFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get distributions | get distribution ID",
		Short: "Show distributions from the control API",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			switch {
			case args[0] == "distributions" && len(args) == 1:
				_, b, err := c.do(http.MethodGet, "/distributions", nil, nil)
				if err != nil {
					return fmt.Errorf("get distributions: %w", err)
				}
				return printDistributions(cmd.OutOrStdout(), b)
			case args[0] == "distribution" && len(args) == 2:
				resp, b, err := c.do(http.MethodGet, "/distributions/"+url.PathEscape(args[1]), nil, map[string]string{"Accept": "application/yaml"})
				if err != nil {
					return fmt.Errorf("get distribution %s: %w", args[1], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "# revision %s\n%s", strings.Trim(resp.Header.Get("ETag"), `"`), b)
				return nil
			}
			return fmt.Errorf("get: want \"distributions\" or \"distribution ID\", got %q", strings.Join(args, " "))
		},
	}
	return cmd
}

func deleteCmd(cf *controlFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete distribution ID",
		Short: "Delete a distribution through the control API",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "distribution" {
				return fmt.Errorf("delete: want \"distribution ID\", got %q", strings.Join(args, " "))
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			path := "/distributions/" + url.PathEscape(args[1])
			resp, _, err := c.do(http.MethodGet, path, nil, nil)
			if err != nil {
				return fmt.Errorf("delete distribution %s: %w", args[1], err)
			}
			if _, _, err := c.do(http.MethodDelete, path, nil, map[string]string{"If-Match": resp.Header.Get("ETag")}); err != nil {
				return fmt.Errorf("delete distribution %s: %w", args[1], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "distribution %s deleted\n", args[1])
			return nil
		},
	}
}

// printDistributions prints the API's list as a table.
func printDistributions(out io.Writer, b []byte) error {
	var list []map[string]any
	if err := json.Unmarshal(b, &list); err != nil {
		var wrapped struct {
			Distributions []map[string]any `json:"distributions"`
		}
		if err2 := json.Unmarshal(b, &wrapped); err2 != nil {
			return fmt.Errorf("get distributions: unexpected answer: %w", err)
		}
		list = wrapped.Distributions
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tREVISION\tENABLED\tALIASES")
	for _, d := range list {
		fmt.Fprintf(tw, "%v\t%v\t%v\t%v\n", d["id"], d["revision"], d["enabled"], d["aliases"])
	}
	return tw.Flush()
}

func edgesCmd(cf *controlFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "edges",
		Short: "List the edges the control plane hears from",
		Long: `Edges lists every edge that sent the control plane a heartbeat: its node id,
POP, version, the configuration revision it has in service (and why it
refused a later one), whether it is alive (a heartbeat within the last few
seconds), when it was last heard from, and its traffic between its last two
heartbeats: requests per second, the share answered from cache, and requests
per second to origins (and other tiers); and its role (edge or shield) and the
address other nodes reach it at for tiered caching.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			_, b, err := c.do(http.MethodGet, "/edges", nil, nil)
			if err != nil {
				return fmt.Errorf("edges: %w", err)
			}
			var list struct{ Edges []control.Edge }
			if err := json.Unmarshal(b, &list); err != nil {
				return fmt.Errorf("edges: unexpected answer: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tPOP\tVERSION\tCONFIG\tALIVE\tLAST SEEN\tREQ/S\tHIT%\tORIGIN REQ/S\tROLE\tTIER ADDRESS")
			for _, e := range list.Edges {
				rev := fmt.Sprint(e.ConfigRevision)
				if e.ConfigError != "" {
					rev += " (refused a later one)"
				}
				rps, hit, orps := "-", "-", "-"
				if r := e.Rates; r != nil && e.Alive {
					rps, orps = fmt.Sprintf("%.1f", r.RequestsPerSecond), fmt.Sprintf("%.1f", r.OriginRequestsPerSecond)
					if r.RequestsPerSecond > 0 {
						hit = fmt.Sprintf("%.0f", 100*r.HitRatio)
					}
				}
				role, addr := e.Role, e.TierAddress
				if role == "" {
					role = "edge"
				}
				if addr == "" {
					addr = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s ago\t%s\t%s\t%s\t%s\t%s\n", e.NodeID, e.POP, e.Version, rev, e.Alive,
					time.Since(e.LastSeen).Round(time.Second/10), rps, hit, orps, role, addr)
			}
			return tw.Flush()
		},
	}
}

func invalidateCmd(cf *controlFlags) *cobra.Command {
	var wait time.Duration
	var ref string
	var tags []string
	var soft bool
	cmd := &cobra.Command{
		Use:   "invalidate DISTRIBUTION [PATH...] [--tag TAG]... [--soft]",
		Short: "Remove paths or tagged objects from every edge's cache, as a CloudFront invalidation",
		Long: `Invalidate asks the control plane to remove the paths from every edge's cache.
Paths follow CloudFront's rules: they start with "/", and "*" may only end them
("/images/*"; "/*" is everything); each path covers every query string and
variant. --tag (repeatable) also invalidates every object the origin tagged
with TAG (Surrogate-Key or Cache-Tag response header). --soft marks the objects
stale instead of removing them: the next request revalidates with the origin
(a 304 keeps the stored body), and stale-while-revalidate / stale-if-error may
serve them meanwhile. The invalidation is InProgress until every live edge has
applied it, then Completed; edges that are away apply it before they serve again.
With --wait, Invalidate waits until it is Completed and says how long that took.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && len(tags) == 0 {
				return fmt.Errorf("invalidate: name at least one path or --tag")
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			mode := bus.PurgeHard
			if soft {
				mode = bus.PurgeSoft
			}
			body, _ := json.Marshal(control.InvalidationRequest{Paths: args[1:], Tags: tags, Mode: mode, CallerReference: ref})
			start := time.Now()
			path := "/distributions/" + url.PathEscape(args[0]) + "/invalidations"
			_, b, err := c.do(http.MethodPost, path, body, map[string]string{"Content-Type": "application/json"})
			if err != nil {
				return fmt.Errorf("invalidate: %w", err)
			}
			var inv control.Invalidation
			if err := json.Unmarshal(b, &inv); err != nil {
				return fmt.Errorf("invalidate: unexpected answer: %w", err)
			}
			for wait > 0 && inv.Status != control.Completed && time.Since(start) < wait {
				time.Sleep(20 * time.Millisecond)
				if _, b, err = c.do(http.MethodGet, path+"/"+inv.ID, nil, nil); err != nil {
					return fmt.Errorf("invalidate: %w", err)
				}
				if err := json.Unmarshal(b, &inv); err != nil {
					return fmt.Errorf("invalidate: unexpected answer: %w", err)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "invalidation %s %s", inv.ID, inv.Status)
			if inv.Status == control.Completed && wait > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), " after %v", time.Since(start).Round(time.Millisecond))
			} else if len(inv.Waiting) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), " (waiting for %s)", strings.Join(inv.Waiting, ", "))
			}
			fmt.Fprintln(cmd.OutOrStdout())
			if wait > 0 && inv.Status != control.Completed {
				return fmt.Errorf("invalidate: not Completed within %v", wait)
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the invalidation to be Completed")
	cmd.Flags().StringVar(&ref, "caller-reference", "", "your own reference for the invalidation")
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "invalidate the objects carrying this cache tag; repeatable")
	cmd.Flags().BoolVar(&soft, "soft", false, "mark the objects stale (revalidate on next use) instead of removing them")
	return cmd
}

func invalidationsCmd(cf *controlFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "invalidations DISTRIBUTION",
		Short: "List a distribution's invalidations, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			_, b, err := c.do(http.MethodGet, "/distributions/"+url.PathEscape(args[0])+"/invalidations", nil, nil)
			if err != nil {
				return fmt.Errorf("invalidations: %w", err)
			}
			var list struct{ Invalidations []control.Invalidation }
			if err := json.Unmarshal(b, &list); err != nil {
				return fmt.Errorf("invalidations: unexpected answer: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tMODE\tCREATED\tPATHS AND TAGS")
			for _, inv := range list.Invalidations {
				what := strings.Join(append(slices.Clone(inv.Paths), tagArgs(inv.Tags)...), " ")
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", inv.ID, inv.Status, inv.Mode, inv.Created.Format(time.RFC3339), what)
			}
			return tw.Flush()
		},
	}
}

func drainCmd(cf *controlFlags) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "drain POP [--reason R]",
		Short: "Take a POP out of every router's answers, through the control API",
		Long: `Drain takes POP out of the answers of every router following the control plane
("tern router --nats", and "tern serve" with a router), within a few seconds,
while its edges keep running: for maintenance. It lasts until "tern undrain
POP", across restarts of the control plane and the routers. A POP the
configuration drains (router.pops[].drained) stays drained either way.
Draining a drained POP replaces its reason.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]string{"reason": reason})
			_, b, err := c.do(http.MethodPut, "/pops/"+url.PathEscape(args[0])+"/drain", body, map[string]string{"Content-Type": "application/json"})
			if err != nil {
				return fmt.Errorf("drain %s: %w", args[0], err)
			}
			var p control.POP
			if err := json.Unmarshal(b, &p); err != nil {
				return fmt.Errorf("drain %s: unexpected answer: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "POP %s drained since %s (%d live edge(s) keep running)\n", p.Name, p.Since.Local().Format(time.RFC3339), p.LiveEdges)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why: shown by tern pops and tern route (at most 256 bytes)")
	return cmd
}

func undrainCmd(cf *controlFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "undrain POP",
		Short: "Put a drained POP back in the routers' answers, through the control API",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			resp, _, err := c.do(http.MethodDelete, "/pops/"+url.PathEscape(args[0])+"/drain", nil, nil)
			if err != nil {
				if resp != nil && resp.StatusCode == http.StatusNotFound {
					fmt.Fprintf(cmd.OutOrStdout(), "POP %s was not drained\n", args[0])
					return nil
				}
				return fmt.Errorf("undrain %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "POP %s undrained\n", args[0])
			return nil
		},
	}
}

func popsCmd(cf *controlFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "pops",
		Short: "List the POPs the control plane hears from or has drained",
		Long: `Pops lists every POP whose edges sent the control plane a heartbeat since it
started, and every POP an operator drained ("tern drain"): its live edges (a
heartbeat within the last few seconds) out of those heard from, when one was
last heard from, and the drain, with its reason and since when. A POP drained
only in a router's configuration file is not listed: the control plane does
not know the routers' files.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			_, b, err := c.do(http.MethodGet, "/pops", nil, nil)
			if err != nil {
				return fmt.Errorf("pops: %w", err)
			}
			var list struct{ POPs []control.POP }
			if err := json.Unmarshal(b, &list); err != nil {
				return fmt.Errorf("pops: unexpected answer: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "POP\tLIVE EDGES\tLAST SEEN\tDRAINED\tSINCE\tREASON")
			for _, p := range list.POPs {
				seen, since, reason := "-", "-", "-"
				if !p.LastSeen.IsZero() {
					seen = time.Since(p.LastSeen).Round(time.Second/10).String() + " ago"
				}
				if p.Drained {
					since = p.Since.Local().Format(time.RFC3339)
					if p.Reason != "" {
						reason = p.Reason
					}
				}
				fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%v\t%s\t%s\n", p.Name, p.LiveEdges, p.Edges, seen, p.Drained, since, reason)
			}
			return tw.Flush()
		},
	}
}
