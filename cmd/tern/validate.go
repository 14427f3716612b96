package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/terncdn/tern/certs"
	"github.com/terncdn/tern/config"
	"github.com/terncdn/tern/edge"
)

func validateCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "validate --config FILE",
		Short: "Check a configuration file and name every problem in it",
		Long: `Validate reads a configuration file the way "tern serve" would and reports
every problem it finds, one per line, each naming the field and the reason.
With edge.listen_tls set it also loads the certificate files, as the edge
would on this machine (missing, key not matching, expired), and an
origin's tls.ca_file. It exits 0 when
the file is valid and 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return errors.New("validate: --config FILE is required")
			}
			c, err := config.Load(path)
			if err != nil {
				return err // one line per problem, each naming its field
			}
			// What only this node can check: the files the
			// configuration names (an origin's tls.ca_file, the
			// certificates with edge.listen_tls).
			if err := edge.Check(c); err != nil {
				return fmt.Errorf("check config %s: %w", path, err)
			}
			if c.Edge.ListenTLS != "" {
				if err := certs.Check(c); err != nil {
					return fmt.Errorf("check config %s:\n%w", path, err)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d distributions)\n", path, len(c.Distributions))
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "configuration file (YAML)")
	return cmd
}
