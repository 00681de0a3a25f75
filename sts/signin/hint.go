package signin

import (
	"fmt"
	"strings"
	"time"

	"github.com/appcred/appcred/aadsts"
)

// The hint helpers phrase what to change so that a refused request
// succeeds. They take names, ids, hints and thumbprints, never credentials.

// maxListed is how many known names a hint lists before "and N more".
const maxListed = 8

// SecretHint is what a record shows of a presented secret: its first three
// characters (as Entra's secret hint), or "" for a value shorter than 8
// characters, of which three would say too much.
func SecretHint(secret string) string {
	if len(secret) < 8 {
		return ""
	}
	return secret[:3]
}

// App names an app in a hint: "name (client id)" or the client id alone.
func App(name, clientID string) string {
	if name == "" {
		return clientID
	}
	return fmt.Sprintf("%q (%s)", name, clientID)
}

// List joins items for a hint, "(none)" when empty, at most maxListed of them.
func List(items []string) string {
	switch {
	case len(items) == 0:
		return "(none)"
	case len(items) > maxListed:
		return strings.Join(items[:maxListed], ", ") + fmt.Sprintf(" and %d more", len(items)-maxListed)
	}
	return strings.Join(items, ", ")
}

// TenantNotFound: the path names no tenant.
func TenantNotFound(seg string, known []string) string {
	return fmt.Sprintf("no tenant has id or domain %q; known: %s (add one with `appcred authority tenant add`)", seg, List(known))
}

// AppNotFound: the client id is not registered in the tenant.
func AppNotFound(clientID, tenant string, apps []string) string {
	return fmt.Sprintf("no app with client id %q in tenant %s; its apps: %s (register one with `appcred authority app add`, "+
		"or send the request to the tenant the app is in)", clientID, tenant, List(apps))
}

// SecretMismatch: the presented secret (shown by hint, "" when too short) is
// none of the app's secrets, whose hints are listed.
func SecretMismatch(hint, app string, hints []string) string {
	shown := "the secret sent"
	if hint != "" {
		shown = "secret beginning " + hint + "…"
	}
	shownHints := make([]string, len(hints))
	for i, h := range hints {
		shownHints[i] = h + "…"
	}
	return fmt.Sprintf("%s does not match any of the %d secret(s) of app %s (hints %s); send a secret's value, not its id, "+
		"or add one with `appcred authority secret add`", shown, len(hints), app, List(shownHints))
}

// SecretExpired: the presented secret is one of the app's, but expired.
func SecretExpired(hint, app string, expired []time.Time) string {
	when := make([]string, len(expired))
	for i, t := range expired {
		when[i] = t.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("secret beginning %s… of app %s has expired (expiry %s); add a new one with "+
		"`appcred authority secret add --expires …` and remove the old one", hint, app, List(when))
}

// ThumbprintNotRegistered: the assertion names a certificate the app does not have.
func ThumbprintNotRegistered(thumb, alg, app string, registered []string) string {
	return fmt.Sprintf("thumbprint %s (%s hex) is not registered on app %s; registered: %s (register the certificate "+
		"with `appcred authority cert add`, or sign with a registered one)", thumb, alg, app, List(registered))
}

// CertificateNotValid: the assertion's certificate is registered but outside its validity.
func CertificateNotValid(thumb, app string, notBefore, notAfter time.Time) string {
	return fmt.Sprintf("certificate %s of app %s is valid only from %s to %s; register a current certificate", thumb, app,
		notBefore.UTC().Format(time.RFC3339), notAfter.UTC().Format(time.RFC3339))
}

// ResourceNotFound: no app in the tenant is the resource asked for.
func ResourceNotFound(resource, tenant string, known []string) string {
	return fmt.Sprintf("no app in tenant %s has identifier URI %q; known: %s (ask for \"{identifier URI}/.default\", "+
		"or add the URI to the resource app)", tenant, resource, List(known))
}

// AudienceMismatch: the assertion is addressed to another endpoint.
func AudienceMismatch(got, want string) string {
	return fmt.Sprintf("the client assertion's aud is %q; set it to the token endpoint %s", got, want)
}

// fixed are the hints of failures whose fix does not depend on the directory.
var fixed = map[aadsts.Code]string{
	aadsts.MissingParameter:          "the request lacks a required form parameter (named in the description)",
	aadsts.UnsupportedGrantType:      "use a grant_type this authority supports (its discovery document lists them)",
	aadsts.MissingClientCredential:   "send client_secret, or client_assertion with client_assertion_type",
	aadsts.InvalidCredentials:        "send one credential, either client_secret (body or HTTP Basic) or client_assertion",
	aadsts.InvalidJWT:                "the client assertion must be a signed JWT with exp and an x5t#S256, x5t or x5c header",
	aadsts.AssertionSignatureInvalid: "sign the assertion (RS256 or PS256) with the private key of a certificate registered on the app",
	aadsts.AssertionTimeRange:        "the assertion is expired or not yet valid: make a fresh one and check the clock",
	aadsts.AssertionSubjectMismatch:  "set the assertion's iss and sub both to the client id",
	aadsts.AssertionIssuerMismatch:   "set the assertion's iss and sub to the client_id of the request",
	aadsts.InvalidScope:              "ask for one scope, \"{resource}/.default\"",
	aadsts.ScopeNotDefault:           "client credentials take \"{resource}/.default\", not individual scopes",
	aadsts.MultipleResources:         "ask for one resource per request",
	aadsts.CommonTenantNotSupported:  "use a tenant id or domain instead of /common or /consumers",
	aadsts.MethodNotPOST:             "POST the token request",
	aadsts.RequestTooLarge:           "the request body is too large",
	aadsts.UnknownInstance: "send the request to a name on the authority's certificate (localhost, 127.0.0.1, ::1, " +
		"a --hostname) or its listen address, with its port",
	aadsts.InvalidUserCredentials: "the username or password is wrong: check the UPN with `appcred authority user list`, " +
		"or set the password with `appcred authority user add`",
	aadsts.ConsentRequired: "consent the client to the scope with `appcred authority consent`",
	aadsts.UserAssertionInvalid: "the on-behalf-of assertion must be a valid user token this authority issued to the " +
		"middle tier (aud = its client id or identifier URI)",
	aadsts.UserAssertionTimeRange: "the user's token has expired: get a fresh one from the calling client",
	aadsts.InvalidGrant:           "the refresh token or grant is invalid, expired or another client's: sign in again",
	aadsts.UserStrongAuthEnrollmentRequired: "the API requires MFA (require_mfa): relay the claims challenge to the user's " +
		"client, which signs in again with it (password grant with claims=…, or `appcred authority user-token --claims`)",
	aadsts.InternalError: "the authority failed; see its log for the cause",
}

// Fixed is the directory-independent hint for code, or "".
func Fixed(code aadsts.Code) string { return fixed[code] }
