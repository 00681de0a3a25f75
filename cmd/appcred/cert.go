package main

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/appcred/appcred/internal/fsutil"
	"github.com/appcred/appcred/proof"
)

func init() { addVerb(newCertCmd, "cert") }

// newCertCmd is "appcred cert": make client certificates and read their thumbprints.
func newCertCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Make a client certificate and read certificate thumbprints",
	}
	cmd.AddCommand(newCertNewCmd(), newCertThumbprintCmd())
	return cmd
}

// The files "appcred cert new" writes.
const (
	keyFile      = "key.pem"
	certFile     = "cert.pem"
	combinedFile = "combined.pem"
	pfxFile      = "cert.pfx"
)

// certJSON describes a certificate by its thumbprints (the same field names as
// "appcred authority cert add").
type certJSON struct {
	Subject    string `json:"subject"`
	Issuer     string `json:"issuer,omitempty"`
	NotBefore  string `json:"not_before"`
	NotAfter   string `json:"not_after"`
	Thumbprint string `json:"thumbprint"`
	X5T        string `json:"x5t"`
	X5TS256    string `json:"x5t_s256"`
	// Files and PFXPassword are set by "cert new" only.
	Files       map[string]string `json:"files,omitempty"`
	PFXPassword string            `json:"pfx_password,omitempty"`
	File        string            `json:"file,omitempty"`
}

func describeCert(c *x509.Certificate) certJSON {
	return certJSON{
		Subject:    c.Subject.String(),
		Issuer:     c.Issuer.String(),
		NotBefore:  c.NotBefore.UTC().Format(time.RFC3339),
		NotAfter:   c.NotAfter.UTC().Format(time.RFC3339),
		Thumbprint: proof.SHA1Hex(c),
		X5T:        proof.X5T(c),
		X5TS256:    proof.X5TS256(c),
	}
}

func newCertNewCmd() *cobra.Command {
	var (
		subject, out, pwEnv, output string
		days, keySize               int
		force, legacyPFX            bool
	)
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Make a key and self-signed client certificate: key.pem, cert.pem, combined.pem, cert.pfx",
		Long: `Make an RSA key and a self-signed client-authentication certificate in one step (what three openssl
commands do), and print its thumbprints:

  key.pem       private key, PKCS#8, mode 0600
  cert.pem      certificate: upload it to the app registration (portal: Certificates & secrets), or
                register it on the local authority with "appcred authority cert add --app ID --cert DIR/cert.pem"
  combined.pem  key + certificate, mode 0600: what MSAL Python, azure-identity and azidentity load
  cert.pfx      PKCS#12 (AES-256, SHA-256 MAC, as OpenSSL 3 writes), mode 0600, password from --password-env VAR
                or generated and printed once; --legacy-pfx writes 3DES/SHA-1 instead, for readers that know no
                other format (azidentity's ParseCertificates, golang.org/x/crypto/pkcs12, older Windows and Java)

Existing files are never overwritten unless --force is given.`,
		Example: `  appcred cert new --subject "CN=orders-daemon" --out ./creds
  PFX_PASSWORD=... appcred cert new --subject "CN=orders-daemon,O=Contoso" --days 90 --out ./creds --password-env PFX_PASSWORD`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, outText, outJSON); err != nil {
				return err
			}
			if err := checkCertNewFlags(subject, out, days, keySize); err != nil {
				return err
			}
			password, generated := "", false
			if pwEnv != "" {
				p, err := envSecret("--password-env", pwEnv)
				if err != nil {
					return err
				}
				password = p
			} else {
				password, generated = newPassword(), true
			}
			paths := map[string]string{}
			for _, name := range []string{keyFile, certFile, combinedFile, pfxFile} {
				paths[name] = filepath.Join(out, name)
			}
			if !force {
				if err := refuseExisting(paths); err != nil {
					return err
				}
			}
			c, err := proof.NewSelfSigned(subject, time.Duration(days)*24*time.Hour, keySize)
			if err != nil {
				return err
			}
			if err := writeCertFiles(out, paths, c, password, legacyPFX); err != nil {
				return err
			}
			info := describeCert(c.Leaf)
			info.Files = map[string]string{"key": paths[keyFile], "cert": paths[certFile],
				"combined": paths[combinedFile], "pfx": paths[pfxFile]}
			if generated {
				info.PFXPassword = password
			}
			if output == outJSON {
				return printJSON(cmd.OutOrStdout(), info)
			}
			return printCertText(cmd.OutOrStdout(), info, generated)
		},
	}
	f := cmd.Flags()
	f.StringVar(&subject, "subject", "", `certificate subject, e.g. "CN=orders-daemon" or "CN=x,O=org"; required`)
	f.IntVar(&days, "days", 365, "validity in days")
	f.IntVar(&keySize, "key-size", 2048, "RSA key size in bits")
	f.StringVar(&out, "out", "", "directory to write the files to (created with mode 0700 if missing); required")
	f.StringVar(&pwEnv, "password-env", "", "NAME of the environment variable holding the PFX password (default: generate one and print it once)")
	f.BoolVar(&force, "force", false, "overwrite existing files")
	f.BoolVar(&legacyPFX, "legacy-pfx", false, "write cert.pfx as legacy PKCS#12 (3DES, SHA-1 MAC), e.g. for azidentity.ParseCertificates")
	outputFlag(cmd, &output, outText, outText, outJSON)
	return cmd
}

// checkCertNewFlags refuses a missing or bad subject, a missing output
// directory, and validity or key sizes out of range.
func checkCertNewFlags(subject, out string, days, keySize int) error {
	if strings.TrimSpace(subject) == "" {
		return errors.New(`no subject: set --subject (e.g. --subject "CN=orders-daemon")`)
	}
	if _, err := proof.ParseSubject(subject); err != nil {
		return fmt.Errorf("--subject: %w", err)
	}
	if out == "" {
		return errors.New("no output directory: set --out DIR")
	}
	if days <= 0 || days > 100*365 {
		return fmt.Errorf("--days %d: must be between 1 and 36500", days)
	}
	if keySize < 2048 || keySize > 8192 {
		return fmt.Errorf("--key-size %d: must be between 2048 (Entra's minimum) and 8192", keySize)
	}
	return nil
}

// newPassword makes a random PFX password (128 bits, URL-safe characters).
func newPassword() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func refuseExisting(paths map[string]string) error {
	var exist []string
	for _, name := range []string{keyFile, certFile, combinedFile, pfxFile} {
		if _, err := os.Lstat(paths[name]); err == nil {
			exist = append(exist, paths[name])
		}
	}
	if len(exist) > 0 {
		return fmt.Errorf("refusing to overwrite %s: pass --force to replace", strings.Join(exist, ", "))
	}
	return nil
}

func writeCertFiles(dir string, paths map[string]string, c *proof.Certificate, password string, legacy bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	keyPEM, err := c.KeyPEM()
	if err != nil {
		return err
	}
	encode := c.PFX
	if legacy {
		encode = c.PFXLegacy
	}
	pfx, err := encode(password)
	if err != nil {
		return err
	}
	certPEM := c.CertPEM()
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{keyFile, keyPEM, 0o600},
		{certFile, certPEM, 0o644},
		{combinedFile, append(append([]byte{}, keyPEM...), certPEM...), 0o600},
		{pfxFile, pfx, 0o600},
	}
	for _, f := range files {
		if err := fsutil.WriteFileAtomic(paths[f.name], f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

func printCertText(w io.Writer, c certJSON, generated bool) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "subject:     %s\n", c.Subject)
	if c.Issuer != "" && c.Issuer != c.Subject {
		fmt.Fprintf(&b, "issuer:      %s\n", c.Issuer)
	}
	fmt.Fprintf(&b, "valid:       %s to %s\n", c.NotBefore, c.NotAfter)
	fmt.Fprintf(&b, "thumbprint:  %s   (SHA-1, as the Azure portal shows it)\n", c.Thumbprint)
	fmt.Fprintf(&b, "x5t:         %s\n", c.X5T)
	fmt.Fprintf(&b, "x5t#S256:    %s\n", c.X5TS256)
	if c.Files != nil {
		fmt.Fprintf(&b, "wrote:\n")
		width := 0
		for _, p := range c.Files {
			width = max(width, len(p))
		}
		for _, f := range []struct{ key, what string }{
			{"key", "private key (0600)"},
			{"cert", "certificate: upload it to the app registration, or appcred authority cert add --cert"},
			{"combined", "key + certificate (0600): for MSAL Python, azure-identity, azidentity, appcred token"},
			{"pfx", "PKCS#12 (0600)"},
		} {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, c.Files[f.key], f.what)
		}
	}
	if generated {
		fmt.Fprintf(&b, "PFX password: %s   (generated; shown once)\n", c.PFXPassword)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func newCertThumbprintCmd() *cobra.Command {
	var pwEnv, output string
	cmd := &cobra.Command{
		Use:   "thumbprint FILE",
		Short: "Print the thumbprints of a certificate in a PEM, DER or PFX file",
		Long: `Print the SHA-1 thumbprint (hex, as the Azure portal shows it), x5t and x5t#S256 of the certificate in
FILE: PEM (a certificate alone is enough; with several, the leaf matching the private key or else the
first), DER (.cer), or PFX / PKCS#12 (password from --password-env VAR).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, outText, outJSON); err != nil {
				return err
			}
			var pw []byte
			if pwEnv != "" {
				s, err := envSecret("--password-env", pwEnv)
				if err != nil {
					return err
				}
				pw = []byte(s)
			}
			leaf, err := loadLeaf(args[0], pw)
			if err != nil {
				return err
			}
			info := describeCert(leaf)
			info.File = args[0]
			if output == outJSON {
				return printJSON(cmd.OutOrStdout(), info)
			}
			return printCertText(cmd.OutOrStdout(), info, false)
		},
	}
	cmd.Flags().StringVar(&pwEnv, "password-env", "", "NAME of the environment variable holding the PFX or key password")
	outputFlag(cmd, &output, outText, outText, outJSON)
	return cmd
}

// loadLeaf reads the client certificate from a PEM, DER or PFX file.
func loadLeaf(path string, pw []byte) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certificate file: %w", err)
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		certs, err := proof.ParsePEMCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(certs) == 0 {
			return nil, fmt.Errorf("%s: no CERTIFICATE block in the PEM file", path)
		}
		if len(certs) > 1 && bytes.Contains(data, []byte("PRIVATE KEY")) {
			if c, err := proof.LoadCertificate(data, pw); err == nil {
				return c.Leaf, nil
			}
		}
		return certs[0], nil
	}
	if c, err := x509.ParseCertificate(data); err == nil {
		return c, nil
	}
	c, err := proof.LoadCertificate(data, pw)
	switch {
	case errors.Is(err, proof.ErrPasswordRequired):
		return nil, fmt.Errorf("%s: %w: set --password-env VAR", path, err)
	case errors.Is(err, proof.ErrWrongPassword):
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not a PEM, DER or PFX certificate: %w", path, err)
	}
	return c.Leaf, nil
}
