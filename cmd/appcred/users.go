package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/appcred/appcred/internal/wire"
	"github.com/appcred/appcred/sts/directory"
	"github.com/appcred/appcred/sts/pki"
)

// defaultPasswordEnv is the environment variable user commands read a
// password from; passwords are never flag values (they would show in ps and
// shell history).
const defaultPasswordEnv = "APPCRED_USER_PASSWORD"

// envValue reads a required secret from the environment variable name.
func envValue(name, what string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("name the environment variable holding the %s", what)
	}
	v := os.Getenv(name)
	if v == "" {
		return "", fmt.Errorf("environment variable %s (the %s) is empty or not set", name, what)
	}
	return v, nil
}

// newUserCmd is "appcred authority user add|list|remove".
func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users (for password, on-behalf-of and refresh-token grants)"}
	var state, tenant string
	var u directory.User
	var passwordEnv string
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a user; the password is read from an environment variable and stored hashed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := envValue(passwordEnv, "password")
			if err != nil {
				return err
			}
			st, err := openState(state)
			if err != nil {
				return err
			}
			u.Password = pw
			out, err := st.AddUser(tenant, u)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	f := add.Flags()
	f.StringVar(&u.UPN, "upn", "", "user principal name, e.g. alice@contoso.test")
	f.StringVar(&u.DisplayName, "name", "", "display name")
	f.StringVar(&u.ObjectID, "object-id", "", "object id (default: a new GUID)")
	f.StringVar(&passwordEnv, "password-env", defaultPasswordEnv, "environment variable holding the password")
	list := &cobra.Command{
		Use:   "list",
		Short: "List users (never passwords)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openState(state)
			if err != nil {
				return err
			}
			users, err := st.ListUsers(tenant)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), users)
		},
	}
	remove := &cobra.Command{
		Use:   "remove UPN|OBJECT-ID",
		Short: "Remove a user; their refresh tokens and on-behalf-of assertions stop working",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openState(state)
			if err != nil {
				return err
			}
			if err := st.RemoveUser(tenant, args[0]); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), map[string]string{"removed": args[0]})
		},
	}
	for _, c := range []*cobra.Command{add, list, remove} {
		stateFlag(c, &state)
		c.Flags().StringVar(&tenant, "tenant", "", "tenant id or domain (default: the only tenant)")
		cmd.AddCommand(c)
	}
	return cmd
}

// newConsentCmd is "appcred authority consent": admin consent of delegated scopes.
func newConsentCmd() *cobra.Command {
	var state, tenant, app, api string
	var scopes []string
	var revoke bool
	cmd := &cobra.Command{
		Use:   "consent",
		Short: "Consent a tenant to a multi-tenant app, or an app to delegated scopes of an API (admin consent)",
		Long: `Without --api: provision the multi-tenant app --app (registered with app add --multi-tenant in its home
tenant) in --tenant, as a tenant admin's consent does: it gets a service principal there (its own object id) and
client-credentials tokens in that tenant (tid and issuer of that tenant) with its home credentials. Before that the
tenant answers AADSTS700016.
With --api: consent --app to the delegated --scope values of that API in --tenant, or --revoke that consent.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if app == "" {
				return errors.New("--app is required")
			}
			st, err := openState(state)
			if err != nil {
				return err
			}
			if api == "" && len(scopes) == 0 && !revoke {
				sp, err := st.Provision(tenant, app)
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), sp)
			}
			if api == "" || (len(scopes) == 0) == !revoke {
				return errors.New("with --api, give --scope (repeatable) or --revoke; without --api, --app is provisioned in --tenant")
			}
			if err := st.Consent(tenant, app, api, scopes...); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), map[string]any{"client_id": app, "api": api, "scopes": scopes})
		},
	}
	stateFlag(cmd, &state)
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant id or domain (default: the only tenant)")
	cmd.Flags().StringVar(&app, "app", "", "client id of the app that gets the delegated scopes")
	cmd.Flags().StringVar(&api, "api", "", "the API: identifier URI (api://orders) or client id")
	cmd.Flags().StringSliceVar(&scopes, "scope", nil, "delegated scope the API declares (repeatable)")
	cmd.Flags().BoolVar(&revoke, "revoke", false, "remove the app's consent for the API")
	return cmd
}

// newUserTokenCmd is "appcred authority user-token": a user's access token
// from a running authority through the password grant, printed alone.
func newUserTokenCmd() *cobra.Command {
	var state, authority, tenant, user, clientID, scope, passwordEnv, secretEnv, claims string
	cmd := &cobra.Command{
		Use:   "user-token",
		Short: "Print a user's access token from a running authority (password grant; for scripts)",
		Long: `Ask a running local authority for a user's access token with the password grant and print it.
The password is read from --password-env (default ` + defaultPasswordEnv + `); a confidential client's secret from
--client-secret-env. The authority's CA is read from the state directory.

--claims sends a claims request (JSON), such as the challenge an on-behalf-of request for an API with
require_mfa got (interaction_required AADSTS50079, relayed by the middle tier as 401 WWW-Authenticate
insufficient_claims): claims naming the API's policy sign the user in with simulated multi-factor
authentication, and the token's amr is ["pwd","mfa"]:

  appcred authority user-token --tenant T --user alice@contoso.test --client-id CLI     --scope api://middle/access_as_user     --claims '{"access_token":{"polids":{"essential":true,"values":["<policy id>"]}}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenant == "" || user == "" || clientID == "" || scope == "" {
				return errors.New("--tenant, --user, --client-id and --scope are required")
			}
			pw, err := envValue(passwordEnv, "password")
			if err != nil {
				return err
			}
			form := url.Values{"grant_type": {"password"}, "client_id": {clientID}, "username": {user},
				"password": {pw}, "scope": {scope}}
			if claims != "" {
				if !json.Valid([]byte(claims)) {
					return errors.New("--claims is not valid JSON (want a claims request, e.g. the claims of an interaction_required answer)")
				}
				form.Set("claims", claims)
			}
			if secretEnv != "" {
				sec, err := envValue(secretEnv, "client secret")
				if err != nil {
					return err
				}
				form.Set("client_secret", sec)
			}
			dir, err := stateDir(state)
			if err != nil {
				return err
			}
			ca, err := os.ReadFile(filepath.Join(dir, pki.CACertFile))
			if err != nil {
				return fmt.Errorf("the authority's CA: %w", err)
			}
			endpoint := strings.TrimRight(authority, "/") + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/token"
			res, err := wire.New(wire.DefaultHTTPClient(ca)).PostForm(cmd.Context(), endpoint, form, nil)
			var we *wire.Error
			if errors.As(err, &we) && we.Claims != "" {
				return fmt.Errorf("%w\nthe authority asks for claims: sign in again with --claims '%s'", err, we.Claims)
			}
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), res.AccessToken)
			return err
		},
	}
	stateFlag(cmd, &state)
	f := cmd.Flags()
	f.StringVar(&authority, "authority", "https://127.0.0.1:8443", "the running authority's URL")
	f.StringVar(&tenant, "tenant", "", "tenant id or domain")
	f.StringVar(&user, "user", "", "user principal name")
	f.StringVar(&clientID, "client-id", "", "client id of the app asking (public, or confidential with --client-secret-env)")
	f.StringVar(&scope, "scope", "", "space-separated scopes, e.g. api://middle/access_as_user")
	f.StringVar(&passwordEnv, "password-env", defaultPasswordEnv, "environment variable holding the user's password")
	f.StringVar(&secretEnv, "client-secret-env", "", "environment variable holding the client secret (confidential clients)")
	f.StringVar(&claims, "claims", "", "claims request (JSON) to send, e.g. the challenge of an API with require_mfa: satisfied with simulated MFA")
	return cmd
}
