// Command appcred is the command-line face of appcred: a local Entra-compatible
// authority, tokens for scripts, certificates and thumbprints, and token decoding.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// rootCmd is the top-level command; each verb's file registers itself in an init function.
var rootCmd = &cobra.Command{
	Use:           "appcred",
	Short:         "Service-to-service authentication: tokens, certificates and a local Entra-compatible authority",
	SilenceUsage:  true,
	SilenceErrors: true,
}

// version is set at build time (-ldflags "-X main.version=v1.2.3"); otherwise
// it comes from the module's build information.
var version = ""

// versionString is what "appcred version" and "appcred --version" print.
func versionString() string {
	v := version
	if v == "" {
		v = "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			v = bi.Main.Version
		}
	}
	return fmt.Sprintf("appcred %s %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func init() {
	rootCmd.Version = versionString()
	rootCmd.SetVersionTemplate("{{.Version}}\n")
	rootCmd.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print appcred's version, the Go version it was built with, and the platform",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), versionString()) },
	})
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "appcred:", err)
		os.Exit(1)
	}
}
