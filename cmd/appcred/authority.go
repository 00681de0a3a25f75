package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

func init() { addVerb(newAuthorityCmd, "authority") }

// newAuthorityCmd is "appcred authority": run and administer the local
// Entra-compatible authority.
func newAuthorityCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "authority",
		Short: "Run and administer a local Entra-compatible authority (HTTPS, v1/v2 token endpoints, JWKS)",
	}
	cmd.AddCommand(newServeCmd(), newKeysCmd(), newTenantCmd(), newAppCmd(), newSecretCmd(), newCertAddCmd(),
		newGrantCmd(), newListCmd(), newLogCmd())
	cmd.AddCommand(newUserCmd(), newConsentCmd(), newUserTokenCmd())
	return cmd
}

// stateFlag adds --state with its default, resolved when the command runs.
func stateFlag(cmd *cobra.Command, state *string) {
	cmd.Flags().StringVar(state, "state", "", "state directory (default $XDG_STATE_HOME/appcred/authority or ~/.local/state/appcred/authority)")
}

func stateDir(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	return directory.DefaultStateDir()
}

// openState opens the state directory of an admin verb. Without --state the
// default directory must exist already: an admin verb does not make one
// (serve does), so a mistyped or forgotten --state is an error, not a new,
// empty authority.
func openState(flag string) (*directory.State, error) {
	dir, err := stateDir(flag)
	if err != nil {
		return nil, err
	}
	if flag == "" {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no authority state in %s (the default --state): start one with \"appcred authority serve\", "+
				"or name the state directory of yours with --state DIR", dir)
		}
	}
	return directory.Open(dir)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// serveLong is the help of "authority serve".
const serveLong = `Serve the local authority over HTTPS. On first start it creates the state directory (0700), a local CA
(trust STATE/ca.pem in clients) and a server certificate for localhost, 127.0.0.1, ::1 and every --hostname.
With neither --config nor an existing state it seeds a development tenant and prints its client id and secret
(shown once). Admin commands (app add, secret add, ...) work while it runs.

The local CA is name-constrained to localhost, 127.0.0.0/8, ::1 and the --hostname names given when it was made
(so its key cannot vouch for other sites). A later --hostname outside those makes a new CA (a warning names it):
clients must then trust the new STATE/ca.pem. Requests must use one of the certificate's names or the listen
address, with the server's port, as Host: it becomes the token issuer; any other Host gets HTTP 400
invalid_instance (AADSTS50049).

With --intercept 127.0.0.1:PORT it also runs an HTTP CONNECT proxy there, so unmodified apps with the real
https://login.microsoftonline.com/TENANT authority (and instance discovery on) work offline: CONNECT to a Microsoft
identity host (login.microsoftonline.com, login.microsoft.com, {region}.login.microsoft.com, login.windows.net,
sts.windows.net, national clouds) reaches this authority, which answers as that host; CONNECT to management.azure.com
or management.core.windows.net reaches a minimal Resource Manager (GET /subscriptions, /subscriptions/{id},
/tenants, /metadata/endpoints; subscriptions from the config's "subscriptions: [{id, display_name, tenant}]").
Every other destination is refused with 403 and logged: nothing leaves the machine. The certificate then covers
those hosts (a new CA on first use). serve prints the export lines to paste (HTTPS_PROXY, NO_PROXY, SSL_CERT_FILE /
REQUESTS_CA_BUNDLE naming STATE/ca-bundle.pem = system roots + local CA, NODE_EXTRA_CA_CERTS). A new state seeded
with --intercept also registers Resource Manager and grants it to the development client.

With --managed-identity APP_ID[,APP_ID...] it also serves the App Service managed-identity protocol on a loopback
plain-HTTP port (--managed-identity-addr) and prints IDENTITY_ENDPOINT and IDENTITY_HEADER (a new random secret per
start) to export: ManagedIdentityCredential / DefaultAzureCredential (azidentity, azure-identity, MSAL) then get that
app's tokens (appidacr 2) from its tenant. The first app is the system-assigned identity; the others are user-assigned
ones, chosen by client_id, object_id/principal_id or mi_res_id (last segment = client id or display name).

With --chaos it injects faults into the token endpoints (discovery and keys are left alone), to test how an app
copes with a failing authority: each token request first waits "latency", then is answered HTTP 429 with
Retry-After (probability "429"), HTTP 503 (probability "503") or has its connection dropped (probability "reset").
For example --chaos "429=0.1,503=0.05,reset=0.01,latency=200ms"; "retry-after=5s" sets the 429s' Retry-After
(whole seconds, default 1s). The probabilities add up to at most 1.

The web console at URL/console (same listener) shows the tenants, apps (client ids, secret hints and expiry,
certificate thumbprints, API roles and scopes, grants and consents), users and the sign-in log, newest first and
live, filterable by app and outcome; it never shows a secret, password, assertion or token. It answers loopback
clients only unless --console-allow names their network; --no-console turns it off.`

func newServeCmd() *cobra.Command {
	var (
		opts     sts.Options
		state    string
		asJSON   bool
		lifetime time.Duration
		refresh  time.Duration
		chaos    string
		allow    []string
	)
	var logFormat string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the authority over HTTPS until interrupted",
		Long:  serveLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := stateDir(state)
			if err != nil {
				return err
			}
			if opts.Chaos, err = sts.ParseChaos(chaos); err != nil {
				return fmt.Errorf("--chaos: %w", err)
			}
			opts.StateDir, opts.TokenLifetime, opts.RefreshIn = dir, lifetime, refresh
			if opts.ConsoleAllow, err = parsePrefixes("--console-allow", allow); err != nil {
				return err
			}
			if opts.Logger, err = serveLogger(cmd.ErrOrStderr(), logFormat); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			a, err := sts.Start(ctx, opts)
			if err != nil {
				return err
			}
			if err := printServing(cmd.OutOrStdout(), a, asJSON); err != nil {
				_ = a.Close()
				return err
			}
			<-ctx.Done()
			return a.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Addr, "addr", "127.0.0.1:8443", "listen address (host:port; port 0 picks a free one)")
	stateFlag(cmd, &state)
	f.StringVar(&opts.ConfigFile, "config", "", "YAML or JSON file declaring tenants and apps; the state is made to match it and each removal is logged")
	f.StringSliceVar(&opts.Hostnames, "hostname", nil, "extra DNS name or IP for the server certificate (repeatable)")
	f.StringVar(&opts.TLSCertFile, "tls-cert", "", "use this PEM server certificate instead of the local CA's")
	f.StringVar(&opts.TLSKeyFile, "tls-key", "", "private key for --tls-cert")
	f.DurationVar(&lifetime, "token-lifetime", sts.DefaultTokenLifetime, "access token lifetime (expires_in)")
	f.DurationVar(&refresh, "refresh-in", 0, "send refresh_in with this value (0: omit)")
	f.StringVar(&opts.Intercept, "intercept", "", "also run the intercept proxy on this loopback address (127.0.0.1:PORT) for unmodified apps")
	f.StringSliceVar(&opts.ManagedIdentity, "managed-identity", nil, "also serve the App Service managed-identity endpoint (plain HTTP, loopback) for these apps: CLIENT_ID or TENANT/CLIENT_ID, comma-separated; the first is the system-assigned identity")
	f.StringVar(&opts.ManagedIdentityAddr, "managed-identity-addr", "127.0.0.1:0", "loopback address of the managed-identity endpoint")
	f.BoolVar(&asJSON, "json", false, "print the startup details as one JSON object")
	signInFlags(f, &opts, &logFormat)
	f.StringVar(&chaos, "chaos", "", `inject faults into token requests, e.g. "429=0.1,503=0.05,reset=0.01,latency=200ms"`)
	f.BoolVar(&opts.NoConsole, "no-console", false, "turn the web console (URL/console) off")
	f.StringSliceVar(&allow, "console-allow", nil, "also let clients from this network (CIDR or IP; repeatable) use the console; by default loopback only")
	return cmd
}

// parsePrefixes reads networks in CIDR notation (or single IP addresses) given to flag.
func parsePrefixes(flag string, in []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range in {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			ip, err2 := netip.ParseAddr(s)
			if err2 != nil {
				return nil, fmt.Errorf("%s %q is neither a CIDR network (10.0.0.0/8) nor an IP address", flag, s)
			}
			p = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage token signing keys"}
	var state string
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new signing key; it signs from now on and the old ones stay in the JWKS",
		Long: `Make a new token signing key. It signs new tokens at once; the old keys stay in the JWKS so their tokens
still verify. The JWKS is served with Cache-Control max-age=300: a resource server that caches it by that header
and does not refetch on an unknown kid may reject new tokens for up to 5 minutes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openState(state)
			if err != nil {
				return err
			}
			k, err := st.RotateKey()
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), k)
		},
	}
	stateFlag(rotate, &state)
	var listState string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the signing keys, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openState(listState)
			if err != nil {
				return err
			}
			keys, err := st.Keys()
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), keys)
		},
	}
	stateFlag(list, &listState)
	cmd.AddCommand(rotate, list)
	return cmd
}

func newTenantCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Manage tenants"}
	var state, id string
	var domains []string
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a tenant (a new GUID unless --id is given)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openState(state)
			if err != nil {
				return err
			}
			t, err := st.AddTenant(id, domains...)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), t)
		},
	}
	stateFlag(add, &state)
	add.Flags().StringVar(&id, "id", "", "tenant id (GUID)")
	add.Flags().StringSliceVar(&domains, "domain", nil, "domain name the tenant can also be addressed by (repeatable)")
	cmd.AddCommand(add, newTenantRemoveCmd())
	return cmd
}

func newAppCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "app", Short: "Manage app registrations"}
	var state, tenant string
	var createTenant, multiTenant bool
	var spec directory.App
	add := &cobra.Command{
		Use:   "add",
		Short: "Register an app; prints its client id",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openState(state)
			if err != nil {
				return err
			}
			if err := existingTenant(st, tenant, createTenant); err != nil {
				return err
			}
			if tenant, err = tenantFor(st, tenant); err != nil {
				return err
			}
			if multiTenant {
				spec.SignInAudience = directory.AudienceMultipleOrgs
			}
			a, err := st.AddApp(tenant, spec)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), a)
		},
	}
	stateFlag(add, &state)
	f := add.Flags()
	f.StringVar(&tenant, "tenant", "", "tenant id or domain (default: the only tenant)")
	f.BoolVar(&createTenant, "create-tenant", false, "create the --tenant (a new GUID) if the directory does not have it")
	f.StringVar(&spec.DisplayName, "name", "", "display name")
	f.StringVar(&spec.ClientID, "client-id", "", "client id (default: a new GUID)")
	f.StringSliceVar(&spec.IdentifierURIs, "identifier-uri", nil, "application ID URI, e.g. api://orders (repeatable)")
	f.StringSliceVar(&spec.AppRoles, "role", nil, "app role the app exposes as a resource (repeatable)")
	f.IntVar(&spec.AccessTokenVersion, "token-version", 2, "version of the access tokens issued for this app as a resource: 1 or 2 (2, as for the API serve seeds; Entra's manifest default is 1)")
	f.StringSliceVar(&spec.OptionalClaims, "optional-claim", nil, "optional claim the app as a resource wants in its tokens: xms_cc (repeatable)")
	f.StringSliceVar(&spec.Scopes, "scope", nil, "delegated scope the app exposes as an API, e.g. access_as_user (repeatable)")
	f.BoolVar(&spec.PublicClient, "public-client", false, "a public client (no credential; password and refresh-token grants)")
	f.BoolVar(&spec.RequireMFA, "require-mfa", false, "as an API, require multi-factor authentication for user tokens (a conditional-access policy: "+
		"without MFA, token requests get interaction_required AADSTS50079 with a claims challenge)")
	f.BoolVar(&multiTenant, "multi-tenant", false, "sign-in audience AzureADMultipleOrgs: other tenants may consent to the app (authority consent --tenant B --app ID)")
	cmd.AddCommand(add, newAppRemoveCmd())
	return cmd
}

func newSecretCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Manage client secrets"}
	var state, tenant, app, expires string
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a client secret to an app; the secret is printed once and stored hashed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if app == "" {
				return errors.New("--app is required")
			}
			var until time.Time
			if expires != "" {
				var err error
				if until, err = parseExpiry(expires, time.Now()); err != nil {
					return err
				}
			}
			st, err := openWithTenant(state, &tenant)
			if err != nil {
				return err
			}
			s, err := st.AddSecretExpiring(tenant, app, until)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), s)
		},
	}
	stateFlag(add, &state)
	add.Flags().StringVar(&tenant, "tenant", "", "tenant id or domain (default: the only tenant)")
	add.Flags().StringVar(&app, "app", "", "client id of the app (required)")
	add.Flags().StringVar(&expires, "expires", "", "lifetime (30d, 12h) or RFC 3339 time after which the secret "+
		"is refused with AADSTS7000222 (default: never)")
	cmd.AddCommand(add, newSecretRemoveCmd())
	return cmd
}

func newCertAddCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cert", Short: "Manage app certificates"}
	var state, tenant, app, file string
	add := &cobra.Command{
		Use:   "add",
		Short: "Register a certificate (PEM) on an app; prints its thumbprints",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if app == "" || file == "" {
				return errors.New("--app and --cert are required")
			}
			st, err := openWithTenant(state, &tenant)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			c, err := st.AddCertificate(tenant, app, data)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			return printJSON(cmd.OutOrStdout(), c)
		},
	}
	stateFlag(add, &state)
	add.Flags().StringVar(&tenant, "tenant", "", "tenant id or domain (default: the only tenant)")
	add.Flags().StringVar(&app, "app", "", "client id of the app (required)")
	add.Flags().StringVar(&file, "cert", "", "PEM certificate file, the first certificate is used (required)")
	cmd.AddCommand(add, newCertRemoveCmd())
	return cmd
}

func newGrantCmd() *cobra.Command {
	var state, tenant, app, api string
	var roles []string
	cmd := &cobra.Command{
		Use:   "grant",
		Short: "Grant an app roles (application permissions) on an API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if app == "" || api == "" || len(roles) == 0 {
				return errors.New("--app, --api and --role are required")
			}
			st, err := openWithTenant(state, &tenant)
			if err != nil {
				return err
			}
			if err := st.Grant(tenant, app, api, roles...); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), map[string]any{"client_id": app, "api": api, "roles": roles})
		},
	}
	stateFlag(cmd, &state)
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant id or domain (default: the only tenant)")
	cmd.Flags().StringVar(&app, "app", "", "client id of the app that gets the roles (required)")
	cmd.Flags().StringVar(&api, "api", "", "the API: identifier URI (api://orders) or client id (required)")
	cmd.Flags().StringSliceVar(&roles, "role", nil, "app role of the API, repeatable (required)")
	cmd.AddCommand(newGrantRemoveCmd())
	return cmd
}

func newListCmd() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tenants and app registrations (secrets by id and hint only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openState(state)
			if err != nil {
				return err
			}
			tenants, err := st.List()
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), map[string]any{"tenants": tenants})
		},
	}
	stateFlag(cmd, &state)
	return cmd
}
