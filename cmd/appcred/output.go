package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/appcred/appcred/proof"
)

// Output formats of the --output flag.
const (
	outJSON   = "json"
	outText   = "text"
	outRaw    = "raw"
	outHeader = "header"
)

// outputFlag adds --output (-o) with a default and the formats a verb accepts.
func outputFlag(cmd *cobra.Command, out *string, def string, allowed ...string) {
	cmd.Flags().StringVarP(out, "output", "o", def, "output format: "+strings.Join(allowed, ", "))
}

// checkOutput rejects an --output value the verb does not know.
func checkOutput(out string, allowed ...string) error {
	if slices.Contains(allowed, out) {
		return nil
	}
	return fmt.Errorf("--output %q is not a known format (use %s)", out, strings.Join(allowed, ", "))
}

// isEnvName reports whether name is an environment variable name: a letter or
// underscore, then letters, digits and underscores, at most 128 in all. (A loop,
// not a regexp: compiling `{0,127}` cost more than the rest of a cached run's start.)
func isEnvName(name string) bool {
	if name == "" || len(name) > 128 || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for _, c := range []byte(name) {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// envSecret returns the value of the environment variable named by a
// --*-env flag. Secrets never come from flag values (they would land in shell
// history), and the error never shows anything that could be a secret: a flag
// value that is not a variable name is not repeated.
func envSecret(flag, name string) (string, error) {
	if !isEnvName(name) {
		return "", fmt.Errorf("%s takes the NAME of an environment variable that holds the value (e.g. %s MY_SECRET), not the value itself", flag, flag)
	}
	v, ok := os.LookupEnv(name)
	if !ok {
		return "", fmt.Errorf("%s %s: environment variable %s is not set", flag, name, name)
	}
	if v == "" {
		return "", fmt.Errorf("%s %s: environment variable %s is empty", flag, name, name)
	}
	return v, nil
}

// readCAFile reads a PEM file of CA certificates for --ca-file. It checks
// that the file holds a CERTIFICATE block; the certificates are parsed on the
// first TLS handshake, which a run answered from the token cache never makes.
func readCAFile(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	if proof.HasPEMCertificate(data) {
		return data, nil
	}
	return nil, fmt.Errorf("--ca-file %s: no PEM certificate in the file", path)
}

// azTime formats t the way "az account get-access-token" prints expiresOn:
// local time with microseconds.
func azTime(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05.000000") }

// humanTime formats t for people: local time with its zone.
func humanTime(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05 MST") }

// relative describes t relative to now: "in 59m" or "3m ago".
func relative(t, now time.Time) string {
	d := t.Sub(now)
	if d >= 0 {
		return "in " + humanDuration(d)
	}
	return humanDuration(-d) + " ago"
}

// humanDuration renders d with its two largest units: "45s", "59m", "1h2m", "3d4h".
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	s := int64(math.Round(d.Seconds()))
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm", s/60)
	case s < 86400:
		if m := s % 3600 / 60; m != 0 {
			return fmt.Sprintf("%dh%dm", s/3600, m)
		}
		return fmt.Sprintf("%dh", s/3600)
	default:
		if h := s % 86400 / 3600; h != 0 {
			return fmt.Sprintf("%dd%dh", s/86400, h)
		}
		return fmt.Sprintf("%dd", s/86400)
	}
}

// shorten shows the start of a long value (a token) and its length, never all of it.
func shorten(s string, keep int) string {
	if len(s) <= keep {
		return s
	}
	return fmt.Sprintf("%s… (%d chars)", s[:keep], len(s))
}
