package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

func init() { rootCmd.AddCommand(newAuthorityCmd()) }

// newAuthorityCmd is "appcred authority": run and administer the local
// Entra-compatible authority.
func newAuthorityCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "authority",
		Short: "Run and administer a local Entra-compatible authority (HTTPS, v1/v2 token endpoints, JWKS)",
	}
	cmd.AddCommand(newServeCmd(), newKeysCmd(), newTenantCmd(), newAppCmd(), newSecretCmd(), newCertAddCmd(),
		newGrantCmd(), newListCmd(), newLogCmd())
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

func openState(flag string) (*directory.State, error) {
	dir, err := stateDir(flag)
	if err != nil {
		return nil, err
	}
	return directory.Open(dir)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newServeCmd() *cobra.Command {
	var (
		opts     sts.Options
		state    string
		asJSON   bool
		lifetime time.Duration
		refresh  time.Duration
	)
	var logFormat string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the authority over HTTPS until interrupted",
		Long: `Serve the local authority over HTTPS. On first start it creates the state directory (0700), a local CA
(trust STATE/ca.pem in clients) and a server certificate for localhost, 127.0.0.1, ::1 and every --hostname.
With neither --config nor an existing state it seeds a development tenant and prints its client id and secret
(shown once). Admin commands (app add, secret add, ...) work while it runs.

The local CA is name-constrained to localhost, 127.0.0.0/8, ::1 and the --hostname names given when it was made
(so its key cannot vouch for other sites). A later --hostname outside those makes a new CA (a warning names it):
clients must then trust the new STATE/ca.pem. Requests must use one of the certificate's names or the listen
address, with the server's port, as Host: it becomes the token issuer; any other Host gets HTTP 400
invalid_instance (AADSTS50049).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := stateDir(state)
			if err != nil {
				return err
			}
			opts.StateDir, opts.TokenLifetime, opts.RefreshIn = dir, lifetime, refresh
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
	f.BoolVar(&asJSON, "json", false, "print the startup details as one JSON object")
	signInFlags(f, &opts, &logFormat)
	return cmd
}

func printServing(w io.Writer, a *sts.Authority, asJSON bool) error {
	url := a.URL()
	if asJSON {
		out := map[string]any{"url": url, "ca_file": a.CAFile(), "state": a.Dir()}
		if s := a.Seed(); s != nil {
			out["seed"] = s
		}
		return json.NewEncoder(w).Encode(out)
	}
	fmt.Fprintf(w, "appcred authority listening on %s\n", url)
	if ca := a.CAFile(); ca != "" {
		fmt.Fprintf(w, "CA certificate: %s\n", ca)
		fmt.Fprintf(w, "  trust it with e.g. SSL_CERT_FILE=%s (Go) or REQUESTS_CA_BUNDLE=%s (Python)\n", ca, ca)
	}
	fmt.Fprintf(w, "state: %s\n", a.Dir())
	if s := a.Seed(); s != nil {
		fmt.Fprintf(w, "seeded a development tenant:\n")
		fmt.Fprintf(w, "  authority:     %s/%s\n", url, s.TenantID)
		fmt.Fprintf(w, "  tenant id:     %s\n", s.TenantID)
		fmt.Fprintf(w, "  client id:     %s\n", s.ClientID)
		fmt.Fprintf(w, "  client secret: %s   (shown once; stored hashed)\n", s.ClientSecret)
		fmt.Fprintf(w, "  scope:         %s   (role %s granted)\n", s.Scope, s.Role)
	}
	return nil
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
			a, err := st.AddApp(tenant, spec)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), a)
		},
	}
	stateFlag(add, &state)
	f := add.Flags()
	f.StringVar(&tenant, "tenant", "", "tenant id or domain (created if a new GUID; default: the only tenant)")
	f.StringVar(&spec.DisplayName, "name", "", "display name")
	f.StringVar(&spec.ClientID, "client-id", "", "client id (default: a new GUID)")
	f.StringSliceVar(&spec.IdentifierURIs, "identifier-uri", nil, "application ID URI, e.g. api://orders (repeatable)")
	f.StringSliceVar(&spec.AppRoles, "role", nil, "app role the app exposes as a resource (repeatable)")
	f.IntVar(&spec.AccessTokenVersion, "token-version", 1, "access token version for this app as a resource: 1 or 2")
	f.StringSliceVar(&spec.OptionalClaims, "optional-claim", nil, "optional claim the app as a resource wants in its tokens: xms_cc (repeatable)")
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
			st, err := openState(state)
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
	add.Flags().StringVar(&app, "app", "", "client id of the app")
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
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			st, err := openState(state)
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
	add.Flags().StringVar(&app, "app", "", "client id of the app")
	add.Flags().StringVar(&file, "cert", "", "PEM certificate file (the first certificate is used)")
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
			st, err := openState(state)
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
	cmd.Flags().StringVar(&app, "app", "", "client id of the app that gets the roles")
	cmd.Flags().StringVar(&api, "api", "", "the API: identifier URI (api://orders) or client id")
	cmd.Flags().StringSliceVar(&roles, "role", nil, "app role of the API (repeatable)")
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
