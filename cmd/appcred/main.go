// Command appcred is the command-line face of appcred: a local Entra-compatible
// authority, tokens for scripts, certificates and thumbprints, and token decoding.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"

	"github.com/spf13/cobra"
)

// verb is one top-level command: its name and aliases, and the function that
// builds it (with its flags and subcommands).
type verb struct {
	names []string
	build func() *cobra.Command
}

// verbs are the top-level commands; each verb's file registers itself in an
// init function with addVerb, which builds nothing.
var verbs []verb

// addVerb registers a top-level command built by build under its name (and
// aliases), which must be those build gives it (TestVerbNames checks).
func addVerb(build func() *cobra.Command, names ...string) {
	verbs = append(verbs, verb{names: names, build: build})
}

// newRootCmd builds the top-level command for a run with args (os.Args[1:]).
// When the first argument names a verb, only that verb is built: a process
// runs one command, and building every command's flags and help is most of
// the start-up time of a short run such as a cached "appcred token". Any other
// run (help, completion, --version, an unknown or misspelt verb) gets them all.
func newRootCmd(args []string) *cobra.Command {
	root := &cobra.Command{
		Use:           "appcred",
		Short:         "Service-to-service authentication: tokens, certificates and a local Entra-compatible authority",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Version only makes cobra add --version; what it prints is the template's
		// versionString, computed only when asked for (it reads the build information).
		Version: "(see --version)",
	}
	root.SetVersionTemplate("{{appcredVersion}}\n")
	all := append(slices.Clone(verbs), verb{names: []string{"version"}, build: newVersionCmd})
	if len(args) > 0 {
		for _, v := range all {
			if slices.Contains(v.names, args[0]) {
				root.AddCommand(v.build())
				// The completion command cannot run when another verb does.
				root.CompletionOptions.DisableDefaultCmd = true
				return root
			}
		}
	}
	for _, v := range all {
		root.AddCommand(v.build())
	}
	return root
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

func init() { cobra.AddTemplateFunc("appcredVersion", versionString) }

// newVersionCmd is "appcred version".
func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print appcred's version, the Go version it was built with, and the platform",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), versionString()) },
	}
}

func main() {
	if err := newRootCmd(os.Args[1:]).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "appcred:", err)
		os.Exit(1)
	}
}
