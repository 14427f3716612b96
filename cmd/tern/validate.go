package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/terncdn/tern/certs"
	"github.com/terncdn/tern/config"
)

func validateCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "validate --config FILE",
		Short: "Check a configuration file and name every problem in it",
		Long: `Validate reads a configuration file the way "tern serve" would and reports
every problem it finds, one per line, each naming the field and the reason.
With edge.listen_tls set it also loads the certificate files, as the edge
would on this machine (missing, key not matching, expired). It exits 0 when
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
