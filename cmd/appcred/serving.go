package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/intercept"
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

// printServing prints where a started authority listens (and its seed, console
// and intercept variables), as text or JSON.
func printServing(w io.Writer, a *sts.Authority, asJSON bool) error {
	url := a.URL()
	if asJSON {
		out := map[string]any{"url": url, "ca_file": a.CAFile(), "state": a.Dir()}
		if c := a.ConsoleURL(); c != "" {
			out["console"] = c
		}
		if s := a.Seed(); s != nil {
			out["seed"] = s
		}
		if env := a.InterceptEnv(); env != nil {
			out["intercept"] = map[string]any{"addr": a.InterceptAddr(), "env": envMap(env)}
		}
		if env := a.ManagedIdentityEnv(); env != nil {
			out["managed_identity"] = map[string]any{"env": envMap(env)}
		}
		return json.NewEncoder(w).Encode(out)
	}
	fmt.Fprintf(w, "appcred authority listening on %s\n", url)
	if ca := a.CAFile(); ca != "" {
		fmt.Fprintf(w, "CA certificate: %s\n", ca)
		fmt.Fprintf(w, "  trust it with --ca-file %s (appcred), REQUESTS_CA_BUNDLE=%s (Python) or appcred.WithCACertificates (Go)\n",
			shellQuote(ca), shellQuote(ca))
	}
	fmt.Fprintf(w, "state: %s\n", a.Dir())
	if c := a.Chaos(); c != (sts.Chaos{}) {
		fmt.Fprintf(w, "chaos: token requests get %s\n", c)
	}
	if c := a.ConsoleURL(); c != "" {
		fmt.Fprintf(w, "console: %s (loopback clients only unless --console-allow)\n", c)
	}
	if s := a.Seed(); s != nil {
		fmt.Fprintf(w, "seeded a development tenant:\n")
		fmt.Fprintf(w, "  authority:     %s\n", a.TenantURL(s.TenantID))
		fmt.Fprintf(w, "  tenant id:     %s\n", s.TenantID)
		fmt.Fprintf(w, "  client id:     %s\n", s.ClientID)
		fmt.Fprintf(w, "  client secret: %s   (shown once; stored hashed)\n", s.ClientSecret)
		fmt.Fprintf(w, "  scope:         %s   (role %s granted)\n", s.Scope, s.Role)
		fmt.Fprintf(w, "get a token:\n  export %s=%s\n", secretVar, shellQuote(s.ClientSecret))
		fmt.Fprintf(w, "  %s\n", tokenCommand(a, s.TenantID, s.ClientID, s.Scope))
	} else if err := printDirectory(w, a); err != nil {
		return err
	}
	if env := a.InterceptEnv(); env != nil {
		fmt.Fprintf(w, "intercept proxy on %s (only Microsoft identity and Resource Manager hosts; others refused)\n", a.InterceptAddr())
		fmt.Fprintf(w, "run unmodified apps offline after:\n%s", intercept.ExportLines(env))
	}
	if env := a.ManagedIdentityEnv(); env != nil {
		fmt.Fprintf(w, "managed-identity endpoint (App Service protocol) for %s; ManagedIdentityCredential works after:\n%s",
			strings.Join(a.ManagedIdentities(), ", "), intercept.ExportLines(env))
	}
	return nil
}

// envMap is vars as a JSON object.
func envMap(vars []intercept.Var) map[string]string {
	out := make(map[string]string, len(vars))
	for _, v := range vars {
		out[v.Name] = v.Value
	}
	return out
}
