// Command appcred is the command-line face of appcred: a local Entra-compatible
// authority, tokens for scripts, certificates and thumbprints, and token decoding.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// rootCmd is the top-level command; each verb's file registers itself in an init function.
var rootCmd = &cobra.Command{
	Use:           "appcred",
	Short:         "Service-to-service authentication: tokens, certificates and a local Entra-compatible authority",
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "appcred:", err)
		os.Exit(1)
	}
}
