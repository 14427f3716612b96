// Command tern is the Tern CDN: one binary for every role. On one machine,
// `tern serve` runs an edge with embedded defaults and a demo distribution.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := rootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "tern:", err)
		os.Exit(1)
	}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "tern",
		Short: "Tern is a self-hosted content delivery network",
		Long: `Tern is a self-hosted content delivery network: what Amazon CloudFront does,
on machines you own. Distributions, cache behaviors and cache policies keep
CloudFront's model and names.

Start with "tern serve": with no --config it runs an edge on 127.0.0.1:8080 in
front of a built-in demo origin, with the control plane and a disk cache kept
under ./tern-data and the DNS request router on 127.0.0.1:8053, and prints
what to try.

Across machines, "tern control" runs the control plane (with embedded NATS)
and "tern edge --nats URL" runs each edge; edges in one POP fetch each object
through its owner among them, and through a regional shield
(edge.role: shield) before the origin. "tern router" answers DNS for the
distributions with the nearest healthy POP; "tern drain POP" takes a POP out
of its answers, "tern pops" lists them.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cf := &controlFlags{}
	api := []*cobra.Command{applyCmd(cf), getCmd(cf), deleteCmd(cf), edgesCmd(cf), invalidateCmd(cf), invalidationsCmd(cf),
		popsCmd(cf), drainCmd(cf), undrainCmd(cf)}
	for _, c := range api {
		cf.register(c)
	}
	root.AddCommand(serveCmd(), edgeCmd(), controlCmd(), routerCmd(), routeCmd(), validateCmd(), cacheCmd(), demoOriginCmd(), versionCmd())
	root.AddCommand(api...)
	return root
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Tern's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "tern", version)
		},
	}
}
