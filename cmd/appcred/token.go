package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/appcred/appcred"
	"github.com/appcred/appcred/authority"
	"github.com/appcred/appcred/proof"
)

// The environment variables "appcred token" falls back to, as azidentity's
// EnvironmentCredential reads them.
const (
	envTenantID     = "AZURE_TENANT_ID"
	envClientID     = "AZURE_CLIENT_ID"
	envClientSecret = "AZURE_CLIENT_SECRET"
	envCertPath     = "AZURE_CLIENT_CERTIFICATE_PATH"
	envCertPassword = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
	envSendChain    = "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN"
	envAuthority    = "AZURE_AUTHORITY_HOST"
)

func init() { rootCmd.AddCommand(newTokenCmd()) }

// tokenFlags are the inputs of "appcred token".
type tokenFlags struct {
	scope, tenant, clientID      string
	secretEnv, certFile, certPwd string
	sendX5C                      bool
	authorityHost, issuer        string
	caFile, output               string
}

func newTokenCmd() *cobra.Command {
	var f tokenFlags
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Get an app-only access token (client credentials) and print it like az account get-access-token",
		Long: `Get an app-only access token with the client-credentials grant and print it.

The application proves its identity with a client secret read from an environment variable
(--secret-env VAR; never from a flag value) or a certificate file (--certificate FILE, PEM with its
private key, or PFX; password from --certificate-password-env VAR). Anything not given falls back to
the variables azidentity reads: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
AZURE_CLIENT_CERTIFICATE_PATH, AZURE_CLIENT_CERTIFICATE_PASSWORD, AZURE_CLIENT_SEND_CERTIFICATE_CHAIN
and AZURE_AUTHORITY_HOST (default https://login.microsoftonline.com).

--scope takes a scope ("https://graph.microsoft.com/.default") or a resource, like az's --resource
("https://graph.microsoft.com" becomes "https://graph.microsoft.com/.default"). With --issuer (a generic
OpenID Connect issuer, no tenant) the scope is sent as given.`,
		Example: `  export AZURE_TENANT_ID=... AZURE_CLIENT_ID=... AZURE_CLIENT_SECRET=...
  appcred token --scope https://graph.microsoft.com
  curl -H "$(appcred token --scope api://orders --output header)" https://orders.example.com/
  appcred token --scope api://orders --certificate combined.pem --authority-host https://127.0.0.1:8443 \
      --ca-file ~/.local/state/appcred/authority/ca.pem --output raw`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runToken(ctx, cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.scope, "scope", "", "scope (https://x/.default) or resource (https://x); required")
	fl.StringVar(&f.tenant, "tenant", "", "tenant id or domain (default $"+envTenantID+")")
	fl.StringVar(&f.clientID, "client-id", "", "application (client) id (default $"+envClientID+")")
	fl.StringVar(&f.secretEnv, "secret-env", "", "NAME of the environment variable holding the client secret (default: "+envClientSecret+")")
	fl.StringVar(&f.certFile, "certificate", "", "certificate file: PEM with private key, or PFX (default $"+envCertPath+")")
	fl.StringVar(&f.certPwd, "certificate-password-env", "", "NAME of the environment variable holding the certificate password (default: "+envCertPassword+")")
	fl.BoolVar(&f.sendX5C, "send-x5c", false, "send the certificate chain (x5c) for subject name + issuer authentication")
	fl.StringVar(&f.authorityHost, "authority-host", "", "Entra authority host (default $"+envAuthority+", else "+authority.PublicCloud+")")
	fl.StringVar(&f.issuer, "issuer", "", "generic OpenID Connect issuer URL instead of an Entra authority (no tenant)")
	fl.StringVar(&f.caFile, "ca-file", "", "PEM file of extra CA certificates to trust (e.g. the local authority's ca.pem)")
	outputFlag(cmd, &f.output, outJSON, outJSON, outRaw, outHeader)
	cmd.MarkFlagsMutuallyExclusive("secret-env", "certificate")
	cmd.MarkFlagsMutuallyExclusive("authority-host", "issuer")
	return cmd
}

// tokenJSON is the JSON output, with az account get-access-token's field names.
type tokenJSON struct {
	AccessToken string `json:"accessToken"`
	ExpiresOn   string `json:"expiresOn"`
	ExpiresOnTS int64  `json:"expires_on"`
	TokenType   string `json:"tokenType"`
	Tenant      string `json:"tenant,omitempty"`
}

func runToken(ctx context.Context, w io.Writer, f tokenFlags) error {
	if err := checkOutput(f.output, outJSON, outRaw, outHeader); err != nil {
		return err
	}
	req, err := resolveToken(f)
	if err != nil {
		return err
	}
	c, err := appcred.New(req.authorityURL, req.clientID, req.proof, req.opts...)
	if err != nil {
		return withHint(err, f)
	}
	defer c.Close()
	tok, err := c.AcquireTokenForClient(ctx, []string{req.scope})
	if err != nil {
		return withHint(err, f)
	}
	typ := tok.TokenType
	if typ == "" {
		typ = "Bearer"
	}
	switch f.output {
	case outRaw:
		_, err = fmt.Fprintln(w, tok.AccessToken)
	case outHeader:
		_, err = fmt.Fprintf(w, "Authorization: %s %s\n", typ, tok.AccessToken)
	default:
		err = printJSON(w, tokenJSON{
			AccessToken: tok.AccessToken,
			ExpiresOn:   azTime(tok.ExpiresOn),
			ExpiresOnTS: tok.ExpiresOn.Unix(),
			TokenType:   typ,
			Tenant:      req.tenant,
		})
	}
	return err
}

// withHint adds what to do to the errors people commonly hit.
func withHint(err error, f tokenFlags) error {
	switch {
	case errors.Is(err, proof.ErrWrongPassword), errors.Is(err, proof.ErrPasswordRequired):
		return fmt.Errorf("%w (set --certificate-password-env VAR or %s)", err, envCertPassword)
	case f.caFile == "" && strings.Contains(err.Error(), "certificate signed by unknown authority"):
		return fmt.Errorf("%w (for the local authority, trust its CA with --ca-file STATE/ca.pem)", err)
	}
	return err
}

// tokenRequest is everything "appcred token" resolved from flags and environment.
type tokenRequest struct {
	authorityURL, tenant, clientID, scope string
	proof                                 appcred.Proof
	opts                                  []appcred.Option
}

// resolveToken applies the AZURE_* fallbacks and checks that every input is there,
// naming the one that is missing.
func resolveToken(f tokenFlags) (*tokenRequest, error) {
	r := &tokenRequest{}
	scope := strings.TrimSpace(f.scope)
	if scope == "" {
		return nil, errors.New("no scope: set --scope (a scope such as https://graph.microsoft.com/.default, or a resource such as https://graph.microsoft.com)")
	}
	r.scope = scope
	r.clientID = firstNonEmpty(f.clientID, os.Getenv(envClientID))
	if r.clientID == "" {
		return nil, errors.New("no client id: set --client-id or " + envClientID)
	}
	if f.issuer != "" {
		if f.tenant != "" {
			return nil, errors.New("--tenant cannot be combined with --issuer (a generic issuer has no tenant)")
		}
		r.authorityURL = f.issuer
		r.opts = append(r.opts, appcred.WithGenericIssuer())
	} else {
		r.tenant = firstNonEmpty(f.tenant, os.Getenv(envTenantID))
		if r.tenant == "" {
			return nil, errors.New("no tenant: set --tenant or " + envTenantID + " (or --issuer for a generic OpenID Connect issuer)")
		}
		host := firstNonEmpty(f.authorityHost, os.Getenv(envAuthority), authority.PublicCloud)
		r.authorityURL = strings.TrimRight(host, "/") + "/" + r.tenant
		r.scope = resourceToScope(scope)
	}
	p, err := resolveProof(f)
	if err != nil {
		return nil, err
	}
	r.proof = p
	ca, err := readCAFile(f.caFile)
	if err != nil {
		return nil, err
	}
	if ca != nil {
		r.opts = append(r.opts, appcred.WithCACertificates(ca))
	}
	r.opts = append(r.opts, appcred.WithAppName("appcred-cli", "1"))
	return r, nil
}

// resolveProof picks the client secret or certificate: flags first, then
// AZURE_CLIENT_SECRET, then AZURE_CLIENT_CERTIFICATE_PATH (azidentity's order).
func resolveProof(f tokenFlags) (appcred.Proof, error) {
	switch {
	case f.secretEnv != "":
		s, err := envSecret("--secret-env", f.secretEnv)
		if err != nil {
			return appcred.Proof{}, fmt.Errorf("no client secret: %w", err)
		}
		return appcred.FromSecret(s), nil
	case f.certFile != "":
		return certProof(f.certFile, "--certificate-password-env", f.certPwd, f.sendX5C)
	}
	if s := os.Getenv(envClientSecret); s != "" {
		return appcred.FromSecret(s), nil
	}
	if path := os.Getenv(envCertPath); path != "" {
		send := f.sendX5C
		if v := os.Getenv(envSendChain); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return appcred.Proof{}, fmt.Errorf("%s must be true or false", envSendChain)
			}
			send = send || b
		}
		pwEnv := f.certPwd
		if pwEnv == "" {
			// The password variable is optional: an unencrypted PEM has none.
			return certFileProof(path, []byte(os.Getenv(envCertPassword)), send)
		}
		return certProof(path, "--certificate-password-env", pwEnv, send)
	}
	return appcred.Proof{}, errors.New("no client secret or certificate: set --secret-env VAR or " + envClientSecret +
		" (client secret), or --certificate FILE or " + envCertPath)
}

// certProof loads a certificate whose password comes from the variable named by a flag.
func certProof(path, pwFlag, pwEnv string, sendX5C bool) (appcred.Proof, error) {
	var pw []byte
	if pwEnv != "" {
		s, err := envSecret(pwFlag, pwEnv)
		if err != nil {
			return appcred.Proof{}, fmt.Errorf("no certificate password: %w", err)
		}
		pw = []byte(s)
	} else {
		pw = []byte(os.Getenv(envCertPassword))
	}
	return certFileProof(path, pw, sendX5C)
}

func certFileProof(path string, pw []byte, sendX5C bool) (appcred.Proof, error) {
	return appcred.FromCertificateFile(path, pw, appcred.CertificateOptions{SendX5C: sendX5C}), nil
}

// resourceToScope turns a resource into its ".default" scope, like az's --resource:
// a value that is not already a ".default" scope gets "/.default" appended.
func resourceToScope(s string) string {
	if strings.HasSuffix(s, "/.default") || s == ".default" {
		return s
	}
	return s + "/.default"
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
