package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/appcred/appcred"
	"github.com/appcred/appcred/authority"
	"github.com/appcred/appcred/proof"
)

func init() { addVerb(newTokenCmd, "token") }

// tokenFlags are the inputs of "appcred token".
type tokenFlags struct {
	scope, tenant, clientID      string
	secretEnv, certFile, certPwd string
	sendX5C                      bool
	authorityHost, issuer        string
	caFile, output               string
	authority                    string // a whole authority URL, https://host/{tenant}
	insecureLoopback             bool
	oboEnv                       string // NAME of the variable holding the user's token (on-behalf-of)
	cache                        cacheFlags
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
the variables azidentity reads, exactly as appcred's EnvironmentCredential reads them (same precedence,
same messages): AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH,
AZURE_CLIENT_CERTIFICATE_PASSWORD, AZURE_CLIENT_SEND_CERTIFICATE_CHAIN, AZURE_FEDERATED_TOKEN_FILE (a
federated token, e.g. Kubernetes workload identity), AZURE_AUTHORITY_HOST (default
https://login.microsoftonline.com) and AZURE_REGIONAL_AUTHORITY_NAME (an Entra region such as westus2).

--scope takes a scope ("https://graph.microsoft.com/.default") or a resource, like az's --resource
("https://graph.microsoft.com" becomes "https://graph.microsoft.com/.default"). With --issuer (a generic
OpenID Connect issuer, no tenant) the scope is sent as given.

Tokens are cached, as az does, until shortly before they expire: by default in ` + displayDefaultCache() + `
(MSAL's cache format, mode 0600), else in --cache FILE, in Redis with --cache redis://host:port/db
(rediss:// for TLS; put a password in $` + envCache + ` rather than on the command line) or wherever $` + envCache + `
points; --cache-key-env VAR encrypts it (AES-256-GCM), --no-cache skips it. See "appcred cache".
With a cache file, the authority's discovery results are kept for 24 hours in ` + authority.DiscoveryFileName + ` beside
it (never encrypted: they hold no secrets), so a run that needs a new token makes just the token request.`,
		Example: `  export AZURE_TENANT_ID=... AZURE_CLIENT_ID=... AZURE_CLIENT_SECRET=...
  appcred token --scope https://graph.microsoft.com
  curl -H "$(appcred token --scope api://orders --output header)" https://orders.example.com/
  appcred token --scope api://orders --certificate combined.pem --authority https://127.0.0.1:8443/$TENANT \
      --ca-file ~/.local/state/appcred/authority/ca.pem --output raw`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runToken(ctx, cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.scope, "scope", "", "scope (https://x/.default) or resource (https://x) (required)")
	fl.StringVar(&f.tenant, "tenant", "", "tenant id or domain (default $"+appcred.EnvTenantID+")")
	fl.StringVar(&f.clientID, "client-id", "", "application (client) id (default $"+appcred.EnvClientID+")")
	fl.StringVar(&f.oboEnv, "on-behalf-of-env", "", "NAME of the environment variable holding a user's access token for this app: "+
		"get a token for --scope (sent as given, e.g. api://orders/Orders.Read) on that user's behalf (on-behalf-of) instead of an app-only token")
	fl.StringVar(&f.secretEnv, "secret-env", "", "NAME of the environment variable holding the client secret (default: "+appcred.EnvClientSecret+")")
	fl.StringVar(&f.certFile, "certificate", "", "certificate file: PEM with private key, or PFX (default $"+appcred.EnvClientCertificatePath+")")
	fl.StringVar(&f.certPwd, "certificate-password-env", "", "NAME of the environment variable holding the certificate password (default: "+appcred.EnvClientCertificatePassword+")")
	fl.BoolVar(&f.sendX5C, "send-x5c", false, "send the certificate chain (x5c) for subject name + issuer authentication")
	fl.StringVar(&f.authorityHost, "authority-host", "", "Entra authority host (default $"+appcred.EnvAuthorityHost+", else "+authority.PublicCloud+")")
	fl.StringVar(&f.authority, "authority", "", "whole authority URL https://host/{tenant}, as \"authority serve\" prints it (instead of --authority-host and --tenant)")
	fl.BoolVar(&f.insecureLoopback, "insecure-loopback", false, "allow a plain-http authority on a loopback address (http://127.0.0.1:PORT, http://localhost:PORT); tests only")
	fl.StringVar(&f.issuer, "issuer", "", "generic OpenID Connect issuer URL instead of an Entra authority (no tenant)")
	fl.StringVar(&f.caFile, "ca-file", "", "PEM file of extra CA certificates to trust (e.g. the local authority's ca.pem)")
	outputFlag(cmd, &f.output, outJSON, outJSON, outRaw, outHeader)
	addCacheFlags(cmd, &f.cache)
	fl.BoolVar(&f.cache.noCache, "no-cache", false, "neither read nor write the token cache")
	cmd.MarkFlagsMutuallyExclusive("no-cache", "cache")
	cmd.MarkFlagsMutuallyExclusive("no-cache", "cache-key-env")
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
		return withHint(err, f)
	}
	cacheOpts, closeCache, err := cacheOption(f.cache)
	if err != nil {
		return err
	}
	defer func() { _ = closeCache() }()
	c, err := appcred.New(req.authorityURL, req.clientID, req.proof, append(req.opts, cacheOpts...)...)
	if err != nil {
		return withHint(err, f)
	}
	defer c.Close()
	scope := req.scope
	if f.oboEnv != "" {
		scope = strings.TrimSpace(f.scope) // delegated scopes (api://orders/Orders.Read) go as given
	}
	tok, err := acquire(ctx, c, scope, f.oboEnv)
	if err != nil {
		return withHint(thumbprintHint(err, req), f)
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

// acquire gets an app token, or with oboEnv a token on behalf of the user
// whose token that environment variable holds.
func acquire(ctx context.Context, c *appcred.Client, scope, oboEnv string) (appcred.Token, error) {
	if oboEnv == "" {
		return c.AcquireTokenForClient(ctx, []string{scope})
	}
	user, err := envSecret("--on-behalf-of-env", oboEnv)
	if err != nil {
		return appcred.Token{}, err
	}
	return c.AcquireTokenOnBehalfOf(ctx, user, []string{scope})
}

// withHint adds what to do to the errors people commonly hit.
func withHint(err error, f tokenFlags) error {
	if errors.Is(err, proof.ErrWrongPassword) || errors.Is(err, proof.ErrPasswordRequired) {
		return fmt.Errorf("%w (set --certificate-password-env VAR or %s)", err, appcred.EnvClientCertificatePassword)
	}
	return caHint(unreachable(err), f.caFile)
}

// tokenRequest is everything "appcred token" resolved from flags and environment.
type tokenRequest struct {
	authorityURL, tenant, clientID, scope string
	proof                                 appcred.Proof
	opts                                  []appcred.Option
	certFile                              string // the certificate file used, if any (for error hints)
	certPwd                               []byte
}

// resolveToken reads the environment with the library's loader, lets the
// flags override it and checks that every input is there, naming the one
// that is missing.
func resolveToken(f tokenFlags) (*tokenRequest, error) {
	scope := strings.TrimSpace(f.scope)
	if scope == "" {
		return nil, errors.New("no scope: set --scope (a scope such as https://graph.microsoft.com/.default, or a resource such as https://graph.microsoft.com)")
	}
	if err := exclusiveFlags(f); err != nil {
		return nil, err
	}
	env := appcred.LoadEnvironment()
	override(&env.ClientID, f.clientID)
	override(&env.TenantID, f.tenant)
	override(&env.AuthorityHost, f.authorityHost)
	if env.ClientID == "" {
		return nil, errors.New("no client id: set --client-id or " + appcred.EnvClientID)
	}
	r := &tokenRequest{scope: scope, clientID: env.ClientID, opts: env.ClientOptions()}
	if err := resolveAuthority(f, env, r); err != nil {
		return nil, err
	}
	p, err := resolveProof(f, env, r)
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

// override replaces *dst with a flag's value when the flag was given.
func override(dst *string, flag string) {
	if flag = strings.TrimSpace(flag); flag != "" {
		*dst = flag
	}
}

// resolveProof picks the client secret or certificate from the flags, else
// what the environment selects (env.Proof: AZURE_CLIENT_SECRET, then
// AZURE_CLIENT_CERTIFICATE_PATH, then AZURE_FEDERATED_TOKEN_FILE).
func resolveProof(f tokenFlags, env appcred.EnvironmentConfig, r *tokenRequest) (appcred.Proof, error) {
	if f.secretEnv != "" {
		s, err := envSecret("--secret-env", f.secretEnv)
		if err != nil {
			return appcred.Proof{}, fmt.Errorf("no client secret: %w", err)
		}
		return appcred.FromSecret(s), nil
	}
	if f.certFile == "" && env.Method() == "" {
		return appcred.Proof{}, errors.New("no client secret or certificate: set --secret-env VAR or " + appcred.EnvClientSecret +
			" (client secret), or --certificate FILE or " + appcred.EnvClientCertificatePath + ", or " +
			appcred.EnvFederatedTokenFile + " (a federated token); username/password authentication is not supported")
	}
	if f.certFile == "" && env.Method() != appcred.MethodClientCertificate {
		return env.Proof() // the secret or the federated token file from the environment
	}
	pw := os.Getenv(appcred.EnvClientCertificatePassword)
	if f.certPwd != "" {
		var err error
		if pw, err = envSecret("--certificate-password-env", f.certPwd); err != nil {
			return appcred.Proof{}, fmt.Errorf("no certificate password: %w", err)
		}
		env.SetCertificatePassword(pw)
	}
	if f.certFile != "" {
		// A file named by a flag is not an environment setting: its errors name the file, not a variable.
		r.certFile, r.certPwd = f.certFile, []byte(pw)
		return appcred.FromCertificateFile(f.certFile, []byte(pw), appcred.CertificateOptions{SendX5C: f.sendX5C}), nil
	}
	env.SendCertificateChain = env.SendCertificateChain || f.sendX5C
	r.certFile, r.certPwd = env.CertificatePath, []byte(pw)
	return env.Proof()
}

// resourceToScope turns a resource into its ".default" scope, like az's --resource:
// a value that is not already a ".default" scope gets "/.default" appended.
func resourceToScope(s string) string {
	if strings.HasSuffix(s, "/.default") || s == ".default" {
		return s
	}
	return s + "/.default"
}
