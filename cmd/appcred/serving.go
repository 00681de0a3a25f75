package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/appcred/appcred/sts"
)

// secretVar is the variable the printed "appcred token" line reads the client secret from.
const secretVar = "APPCRED_CLIENT_SECRET"

// tokenCommand is a ready-to-paste "appcred token" line for an app of the authority.
func tokenCommand(a *sts.Authority, tenant, clientID, scope string) string {
	line := fmt.Sprintf("appcred token --authority %s --client-id %s --secret-env %s --scope %s",
		a.TenantURL(tenant), clientID, secretVar, shellQuote(scope))
	if ca := a.CAFile(); ca != "" {
		line += " --ca-file " + shellQuote(ca)
	}
	return line
}

// printDirectory shows, on a restart, the tenants and apps the state holds
// (never a secret: those were shown once, when made) and a token line for
// the first app granted roles on an API.
func printDirectory(w io.Writer, a *sts.Authority) error {
	tenants, err := a.List()
	if err != nil {
		return err
	}
	var hint string
	for _, t := range tenants {
		fmt.Fprintf(w, "tenant %s\n  authority:     %s\n", t.ID, a.TenantURL(t.ID))
		for _, app := range t.Apps {
			fmt.Fprintf(w, "  client id:     %s  %s", app.ClientID, app.DisplayName)
			if len(app.IdentifierURIs) > 0 {
				fmt.Fprintf(w, "  (API %s)", strings.Join(app.IdentifierURIs, ", "))
			}
			fmt.Fprintln(w)
			for _, api := range slices.Sorted(maps.Keys(app.APIPermissions)) {
				if hint == "" {
					hint = fmt.Sprintf("get a token (with a client secret of app %s in %s; secrets are shown only when made:\n"+
						"  appcred authority secret add --state %s --tenant %s --app %s makes a new one):\n  %s\n",
						app.ClientID, secretVar, shellQuote(a.Dir()), t.ID, app.ClientID,
						tokenCommand(a, t.ID, app.ClientID, api+"/.default"))
				}
			}
		}
	}
	_, err = io.WriteString(w, hint)
	return err
}

// shellQuote quotes s for a POSIX shell when it holds anything but safe characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=@%+,~") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
