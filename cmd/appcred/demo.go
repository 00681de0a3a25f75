package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/appcred/appcred"
	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

func init() { addVerb(newDemoCmd, "demo") }

func newDemoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Walk through client credentials against an in-process local authority (no account, no network)",
		Long: `Start appcred's local Entra-compatible authority in this process (HTTPS on 127.0.0.1, an ephemeral port,
state in a temporary directory removed at exit), register an API and a daemon app with a client secret
and a new certificate, get a token each way through the appcred library, show the second call served
from the cache, and print the decoded, signature-checked tokens. Needs no account and no network.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, cmd.OutOrStdout())
		},
	}
}

// The API the demo registers: the one "appcred authority serve" seeds.
const (
	demoAPIURI = sts.DevIdentifierURI
	demoRole   = sts.DevRole
)

func runDemo(ctx context.Context, w io.Writer) (err error) {
	start := time.Now()
	dir, err := os.MkdirTemp("", "appcred-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Fprintln(w, "appcred demo: an app gets access tokens with the OAuth 2.0 client-credentials grant,")
	fmt.Fprintln(w, "from a local Entra-compatible authority running inside this process (no account, no network).")
	fmt.Fprintln(w)

	a, err := sts.Start(ctx, sts.Options{StateDir: dir, Addr: "127.0.0.1:0", NoSeed: true})
	if err != nil {
		return fmt.Errorf("starting the local authority: %w", err)
	}
	defer func() {
		if cerr := a.Close(); err == nil {
			err = cerr
		}
	}()
	step(w, 1, "Started a local authority at %s (state in %s, removed at exit).", a.URL(), dir)
	fmt.Fprintln(w, "   It serves OIDC discovery, JWKS and token endpoints like login.microsoftonline.com, over HTTPS")
	fmt.Fprintln(w, "   with its own CA, which the client trusts with appcred.WithCACertificates(a.CACertPEM()).")

	reg, err := demoRegister(a)
	if err != nil {
		return err
	}
	step(w, 2, "Registered, in tenant %s:", reg.tenant)
	fmt.Fprintf(w, "   - an API %q with identifier URI %s and app roles %s (as \"appcred authority serve\" seeds it)\n",
		sts.DevAPI().DisplayName, demoAPIURI, strings.Join(sts.DevAPI().AppRoles, ", "))
	fmt.Fprintf(w, "   - a daemon app, client id %s, granted %s on the API\n", reg.clientID, demoRole)
	fmt.Fprintf(w, "   - a client secret for the daemon (hint %s…; the authority stores only its hash)\n", reg.secretHint)
	fmt.Fprintf(w, "   - a new self-signed certificate for the daemon (proof.NewSelfSigned), registered by thumbprint:\n")
	fmt.Fprintf(w, "       thumbprint %s (SHA-1, as the Azure portal shows it)\n", proof.SHA1Hex(reg.cert.Leaf))
	fmt.Fprintf(w, "       x5t#S256   %s\n", proof.X5TS256(reg.cert.Leaf))

	authorityURL := a.TenantURL(reg.tenant)
	scope := demoAPIURI + "/.default"
	ca := appcred.WithCACertificates(a.CACertPEM())
	fmt.Fprintf(w, "\n   The client asks for scope %q at authority %s.\n", scope, authorityURL)

	secretTok, err := demoAcquire(ctx, w, 3, "with the client secret",
		`appcred.New(authority, clientID, appcred.FromSecret(secret), ...)`,
		authorityURL, reg.clientID, appcred.FromSecret(reg.secret), scope, ca)
	if err != nil {
		return err
	}
	certTok, err := demoAcquire(ctx, w, 4, "with the certificate (a signed client assertion, PS256, per request)",
		`appcred.New(authority, clientID, appcred.FromCertificate(cert, appcred.CertificateOptions{}), ...)`,
		authorityURL, reg.clientID, appcred.FromCertificate(reg.cert, appcred.CertificateOptions{}), scope, ca)
	if err != nil {
		return err
	}

	step(w, 5, "What the tokens say (signatures checked against the authority's JWKS, found by OIDC discovery):")
	hc := a.HTTPClient()
	defer hc.CloseIdleConnections() // lets a.Close finish without waiting on idle connections
	for _, t := range []struct{ name, token string }{{"token from the client secret", secretTok}, {"token from the certificate", certTok}} {
		d, err := parseJWT(t.token)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		sig := verifyJWT(ctx, hc, d, "", authorityURL)
		fmt.Fprintf(w, "\n--- %s ---\n", t.name)
		if err := d.print(w, sig, time.Now()); err != nil {
			return err
		}
		if !sig.Valid {
			return fmt.Errorf("%s: signature is not valid: %s", t.name, sig.Error)
		}
	}
	fmt.Fprintf(w, "\nDone in %s. Next:\n", time.Since(start).Round(time.Millisecond))
	printNext(w)
	return nil
}

// printNext prints what to try after the demo, in aligned columns, and a
// concrete "appcred token" line for the authority "appcred authority serve" runs.
func printNext(w io.Writer) {
	next := [][2]string{
		{"appcred authority serve", "run the authority yourself (prints a dev tenant, client id and secret)"},
		{"appcred cert new --subject CN=x --out DIR", "make a client certificate and print its thumbprints"},
		{"appcred decode TOKEN", "look inside a token"},
	}
	width := 0
	for _, n := range next {
		width = max(width, len(n[0]))
	}
	for _, n := range next {
		fmt.Fprintf(w, "  %-*s  %s\n", width, n[0], n[1])
	}
	ca := "STATE/ca.pem"
	if dir, err := directory.DefaultStateDir(); err == nil {
		ca = shellQuote(filepath.Join(dir, "ca.pem"))
	}
	fmt.Fprintf(w, "  then get a token for the same API from a script, with the secret serve printed in %s:\n", secretVar)
	fmt.Fprintf(w, "    appcred token --authority https://127.0.0.1:8443/TENANT_ID --client-id CLIENT_ID --secret-env %s \\\n", secretVar)
	fmt.Fprintf(w, "        --scope %s/.default --ca-file %s\n", demoAPIURI, ca)
}

// demoRegistration is what the demo registered on the authority.
type demoRegistration struct {
	tenant, clientID, secret, secretHint string
	cert                                 *proof.Certificate
}

func demoRegister(a *sts.Authority) (*demoRegistration, error) {
	t, err := a.AddTenant("")
	if err != nil {
		return nil, fmt.Errorf("adding a tenant: %w", err)
	}
	if _, err := a.AddApp(t.ID, sts.DevAPI()); err != nil {
		return nil, fmt.Errorf("registering the API: %w", err)
	}
	daemon, err := a.AddApp(t.ID, directory.App{DisplayName: "appcred-demo-daemon"})
	if err != nil {
		return nil, fmt.Errorf("registering the daemon: %w", err)
	}
	if err := a.Grant(t.ID, daemon.ClientID, demoAPIURI, demoRole); err != nil {
		return nil, fmt.Errorf("granting %s: %w", demoRole, err)
	}
	s, err := a.AddSecret(t.ID, daemon.ClientID)
	if err != nil {
		return nil, fmt.Errorf("adding a client secret: %w", err)
	}
	cert, err := proof.NewSelfSigned("CN=appcred-demo-daemon", 24*time.Hour, 2048)
	if err != nil {
		return nil, err
	}
	if _, err := a.AddCertificate(t.ID, daemon.ClientID, cert.CertPEM()); err != nil {
		return nil, fmt.Errorf("registering the certificate: %w", err)
	}
	return &demoRegistration{tenant: t.ID, clientID: daemon.ClientID, secret: s.Value, secretHint: s.Hint, cert: cert}, nil
}

// demoAcquire gets a token twice through one client and shows where each came from.
func demoAcquire(ctx context.Context, w io.Writer, n int, how, code, authorityURL, clientID string,
	p appcred.Proof, scope string, opts ...appcred.Option) (string, error) {
	step(w, n, "Token %s:", how)
	fmt.Fprintf(w, "   c, _ := %s\n", code)
	c, err := appcred.New(authorityURL, clientID, p, opts...)
	if err != nil {
		return "", err
	}
	defer c.Close()
	var first appcred.Token
	for i, label := range []string{"first call ", "second call"} {
		t0 := time.Now()
		tok, err := c.AcquireTokenForClient(ctx, []string{scope})
		if err != nil {
			return "", fmt.Errorf("token %s (%s): %w", how, strings.TrimSpace(label), err)
		}
		took := time.Since(t0)
		where := "from the authority (discovery + token request over HTTPS)"
		if tok.FromCache {
			where = "served from the cache, no request"
		}
		fmt.Fprintf(w, "   %s: c.AcquireTokenForClient → %s in %s (FromCache=%t)\n", label, where, roundDur(took), tok.FromCache)
		if i == 0 {
			first = tok
		} else if tok.AccessToken != first.AccessToken {
			return "", fmt.Errorf("token %s: the second call returned a different token", how)
		}
	}
	fmt.Fprintf(w, "   token: %s, type %s, expires %s (%s)\n", shorten(first.AccessToken, 24), first.TokenType,
		humanTime(first.ExpiresOn), relative(first.ExpiresOn, time.Now()))
	return first.AccessToken, nil
}

func step(w io.Writer, n int, format string, args ...any) {
	fmt.Fprintf(w, "\n%d. %s\n", n, fmt.Sprintf(format, args...))
}

// roundDur rounds a duration for display: µs below a millisecond, else ms.
func roundDur(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(100 * time.Microsecond)
}
