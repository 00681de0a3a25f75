package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/appcred/appcred/sts/directory"
)

// removeCmd is one "remove" verb of the authority: it opens the state,
// runs remove and prints {"removed": [...]}, one record per thing removed.
func removeCmd(short string, remove func(st *directory.State) ([]directory.Removal, error)) *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "remove",
		Short: short,
		Long: short + `. Prints {"removed": [...]}, one record per thing removed (kind, tenant_id, client_id, and
secret_id and hint, thumbprint, or api and roles). A running server stops accepting it within 100 ms.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openState(state)
			if err != nil {
				return err
			}
			removed, err := remove(st)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), map[string]any{"removed": removed})
		},
	}
	stateFlag(cmd, &state)
	return cmd
}

// tenantAppFlags adds --tenant and the required --app to a verb.
func tenantAppFlags(cmd *cobra.Command, tenant, app *string) {
	cmd.Flags().StringVar(tenant, "tenant", "", "tenant id or domain (default: the only tenant)")
	cmd.Flags().StringVar(app, "app", "", "client id of the app")
	_ = cmd.MarkFlagRequired("app")
}

func newTenantRemoveCmd() *cobra.Command {
	var tenant string
	var force bool
	cmd := removeCmd("Remove a tenant (with --force also its apps)", func(st *directory.State) ([]directory.Removal, error) {
		return st.RemoveTenant(tenant, force)
	})
	cmd.Flags().StringVar(&tenant, "tenant", "", "tenant id or domain")
	cmd.Flags().BoolVar(&force, "force", false, "remove the tenant even when it has apps, and the apps with it")
	_ = cmd.MarkFlagRequired("tenant")
	return cmd
}

func newAppRemoveCmd() *cobra.Command {
	var tenant, app string
	cmd := removeCmd("Remove an app registration and the grants other apps hold on it", func(st *directory.State) ([]directory.Removal, error) {
		return st.RemoveApp(tenant, app)
	})
	tenantAppFlags(cmd, &tenant, &app)
	return cmd
}

func newSecretRemoveCmd() *cobra.Command {
	var tenant, app, id, hint string
	cmd := removeCmd("Remove a client secret, named by --id or --hint", func(st *directory.State) ([]directory.Removal, error) {
		r, err := st.RemoveSecret(tenant, app, id, hint)
		return []directory.Removal{r}, err
	})
	tenantAppFlags(cmd, &tenant, &app)
	cmd.Flags().StringVar(&id, "id", "", "id of the secret (as secret add and list print it)")
	cmd.Flags().StringVar(&hint, "hint", "", "hint of the secret: its first three characters (must name one secret)")
	cmd.MarkFlagsOneRequired("id", "hint")
	cmd.MarkFlagsMutuallyExclusive("id", "hint")
	return cmd
}

func newCertRemoveCmd() *cobra.Command {
	var tenant, app, thumbprint string
	cmd := removeCmd("Remove a certificate from an app", func(st *directory.State) ([]directory.Removal, error) {
		r, err := st.RemoveCertificate(tenant, app, thumbprint)
		return []directory.Removal{r}, err
	})
	tenantAppFlags(cmd, &tenant, &app)
	cmd.Flags().StringVar(&thumbprint, "thumbprint", "", "the certificate's thumbprint in any form cert add prints: "+
		"SHA-1 hex, x5t or x5t#S256 (base64url), or SHA-256 hex")
	_ = cmd.MarkFlagRequired("thumbprint")
	return cmd
}

func newGrantRemoveCmd() *cobra.Command {
	var tenant, app, api string
	var roles []string
	cmd := removeCmd("Take roles granted to an app on an API (all of them without --role)", func(st *directory.State) ([]directory.Removal, error) {
		r, err := st.RemoveGrant(tenant, app, api, roles...)
		return []directory.Removal{r}, err
	})
	tenantAppFlags(cmd, &tenant, &app)
	cmd.Flags().StringVar(&api, "api", "", "the API: identifier URI (api://orders) or client id")
	cmd.Flags().StringSliceVar(&roles, "role", nil, "app role to take (repeatable; default: every role on the API)")
	_ = cmd.MarkFlagRequired("api")
	return cmd
}

// parseExpiry reads secret add's --expires: a lifetime such as "30d", "12h"
// or "90m", or an RFC 3339 time.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	bad := fmt.Errorf("--expires %q: want a lifetime such as 30d, 12h or 90m, or an RFC 3339 time", s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n > 100*365 {
			return time.Time{}, bad
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return time.Time{}, bad
		}
	}
	if d <= 0 {
		return time.Time{}, errors.New("--expires must be a positive lifetime")
	}
	return now.Add(d), nil
}
