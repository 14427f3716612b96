package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/telemetry"
)

func cacheCmd() *cobra.Command {
	var admin string
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Show and remove what a running edge has cached",
		Long: `Cache talks to a running edge's admin listener: "ls" lists stored objects,
"stat" shows each cache tier, "purge" removes paths from every tier.`,
	}
	cmd.PersistentFlags().StringVar(&admin, "admin", "127.0.0.1:9090", "the edge's admin address")

	var dist string
	var limit int
	ls := &cobra.Command{
		Use:   "ls [PATH-PREFIX]",
		Short: "List stored objects (of a distribution, under a path prefix)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"limit": {fmt.Sprint(limit)}}
			if dist != "" {
				q.Set("distribution", dist)
			}
			if len(args) == 1 {
				if dist == "" {
					return fmt.Errorf("cache ls %s: --distribution is required with a path", args[0])
				}
				q.Set("path", args[0])
			}
			var objs []objectInfo
			if err := adminCall(http.MethodGet, admin, "/cache/objects?"+q.Encode(), &objs); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIER\tSTATUS\tSIZE\tDISTRIBUTION\tPATH\tVARIANT\tKIND")
			for _, o := range objs {
				kind := o.Kind
				if o.Slices != "" {
					kind += " " + o.Slices // slices stored/total
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", o.Tier, o.Status, o.Size, o.Distribution, o.Path, o.Variant, kind)
			}
			return tw.Flush()
		},
	}
	ls.Flags().StringVarP(&dist, "distribution", "d", "", "distribution id")
	ls.Flags().IntVar(&limit, "limit", 1000, "list at most this many objects")

	stat := &cobra.Command{
		Use:   "stat",
		Short: "Show objects, bytes, hits and evictions per cache tier",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st struct {
				Cache []telemetry.TierStats `json:"cache"`
			}
			if err := adminCall(http.MethodGet, admin, "/status", &st); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIER\tOBJECTS\tBYTES\tCAPACITY\tHITS\tEVICTIONS\tCHECKSUM-FAILURES")
			for _, t := range st.Cache {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%d\n", t.Tier, t.Objects, config.ByteSize(t.Bytes), config.ByteSize(t.Capacity), t.Hits, t.Evictions, t.ChecksumFailures)
			}
			return tw.Flush()
		},
	}

	var purgeDist string
	var purgeTags []string
	var purgeSoft bool
	purge := &cobra.Command{
		Use:   "purge --distribution D [PATH...] [--tag T]... [--soft]",
		Short: `Remove paths ("/a.jpg", "/images/*", "/*") or tagged objects from every tier`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if purgeDist == "" {
				return fmt.Errorf("cache purge: --distribution is required")
			}
			if len(args)+len(purgeTags) == 0 {
				return fmt.Errorf("cache purge: name at least one path or --tag")
			}
			q := url.Values{"distribution": {purgeDist}, "path": args, "tag": purgeTags}
			if purgeSoft {
				q.Set("soft", "1")
			}
			var res map[string]any
			if err := adminCall(http.MethodPost, admin, "/cache/purge?"+q.Encode(), &res); err != nil {
				return err
			}
			what := strings.Join(append(slices.Clone(args), tagArgs(purgeTags)...), " ")
			verb := "purged"
			if purgeSoft {
				verb = "marked stale"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s in %s (%v objects in memory)\n", verb, what, purgeDist, res["memory_objects"])
			return nil
		},
	}
	purge.Flags().StringVarP(&purgeDist, "distribution", "d", "", "distribution id (required)")
	purge.Flags().StringArrayVar(&purgeTags, "tag", nil, "purge the objects carrying this cache tag (Surrogate-Key, Cache-Tag); repeatable")
	purge.Flags().BoolVar(&purgeSoft, "soft", false, "mark the objects stale instead of removing them: the next request revalidates with the origin")

	cmd.AddCommand(ls, stat, purge)
	return cmd
}

// adminCall does one admin API request and decodes its JSON answer; an
// error answer comes back as an error with the edge's text.
func adminCall(method, admin, path string, out any) error {
	req, err := http.NewRequest(method, "http://"+admin+path, nil)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("admin %s: %w (is tern serve running with its admin listener there?)", admin, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("admin %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// tagArgs describes tags for a message: "tag:T" each.
func tagArgs(tags []string) []string {
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = "tag:" + t
	}
	return out
}
