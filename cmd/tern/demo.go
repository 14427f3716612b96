package main

import (
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/terncdn/tern/demo"
)

func demoOriginCmd() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "demo-origin",
		Short: "Run the built-in demo origin on its own",
		Long: `Demo-origin serves the small site, API and downloads that "tern serve" puts
behind its example distribution, without an edge in front.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			fmt.Fprintf(cmd.OutOrStdout(), "demo origin on http://%s/\n", listen)
			return demo.Serve(ctx, listen)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8081", "address to listen on")
	return cmd
}
