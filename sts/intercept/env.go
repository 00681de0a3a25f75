package intercept

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/appcred/appcred/internal/fsutil"
	"github.com/appcred/appcred/proof"
)

// systemBundles are the PEM files operating systems keep their trusted
// roots in (the first that exists is used): Debian/Ubuntu, Fedora/RHEL,
// OpenSUSE, OpenELEC, CentOS/RHEL 7, Alpine and macOS, FreeBSD. Windows
// keeps its roots in a certificate store, not a file.
var systemBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
	"/usr/local/etc/ssl/cert.pem",
	"/usr/local/share/certs/ca-root-nss.crt",
}

// WriteCABundle writes path (mode 0644, atomically): the system's trusted
// roots followed by the certificates in localCAPEM, each once. Point
// SSL_CERT_FILE and REQUESTS_CA_BUNDLE at it: those replace a client's roots,
// so the bundle keeps the system's. It returns how many system roots it
// found; 0 (as on Windows, whose roots are not in a file) means the bundle
// holds only the local CA.
func WriteCABundle(path string, localCAPEM []byte) (systemRoots int, err error) {
	local, err := proof.ParsePEMCertificates(localCAPEM)
	if err != nil {
		return 0, fmt.Errorf("local CA PEM: %w", err)
	}
	if len(local) == 0 {
		return 0, errors.New("local CA PEM: no CERTIFICATE block")
	}
	var out bytes.Buffer
	seen := map[string]bool{}
	add := func(der []byte) {
		if !seen[string(der)] {
			seen[string(der)] = true
			_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: der})
		}
	}
	for _, f := range systemBundles {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for b := range proof.PEMBlocks(data) {
			if b.Type == "CERTIFICATE" && len(b.Headers) == 0 {
				add(b.Bytes)
				systemRoots++
			}
		}
		if systemRoots > 0 {
			break
		}
	}
	for _, c := range local {
		add(c.Raw)
	}
	if err := fsutil.WriteFileAtomic(path, out.Bytes(), 0o644); err != nil {
		return 0, err
	}
	return systemRoots, nil
}

// Var is one environment variable.
type Var struct{ Name, Value string }

// Env returns the variables that send an unmodified app's traffic through
// the proxy at proxyAddr (host:port) and make it trust the local CA:
// HTTPS_PROXY and HTTP_PROXY (so plain-HTTP requests are refused too rather
// than leaving the machine) in both cases, as clients differ in which they
// read; NO_PROXY for loopback (the authority's own URL and a managed-identity
// endpoint stay direct); SSL_CERT_FILE (Go on Linux, OpenSSL) and
// REQUESTS_CA_BUNDLE (Python requests, the Azure CLI) naming bundleFile from
// WriteCABundle; NODE_EXTRA_CA_CERTS (Node.js, which adds to its own roots)
// naming caFile, the local CA alone.
func Env(proxyAddr, bundleFile, caFile string) []Var {
	proxy := "http://" + proxyAddr
	noProxy := "localhost,127.0.0.1,::1"
	return []Var{
		{"HTTPS_PROXY", proxy}, {"https_proxy", proxy},
		{"HTTP_PROXY", proxy}, {"http_proxy", proxy},
		{"NO_PROXY", noProxy}, {"no_proxy", noProxy},
		{"SSL_CERT_FILE", bundleFile},
		{"REQUESTS_CA_BUNDLE", bundleFile},
		{"NODE_EXTRA_CA_CERTS", caFile},
	}
}

// ExportLines renders vars for a POSIX shell, one "export NAME='value'"
// line each.
func ExportLines(vars []Var) string {
	var b strings.Builder
	for _, v := range vars {
		fmt.Fprintf(&b, "export %s='%s'\n", v.Name, strings.ReplaceAll(v.Value, "'", `'\''`))
	}
	return b.String()
}

// PowerShellLines renders vars for PowerShell, one "$env:NAME = 'value'"
// line each.
func PowerShellLines(vars []Var) string {
	var b strings.Builder
	for _, v := range vars {
		fmt.Fprintf(&b, "$env:%s = '%s'\n", v.Name, strings.ReplaceAll(v.Value, "'", "''"))
	}
	return b.String()
}
