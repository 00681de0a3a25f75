// Package sts is appcred's local Entra-compatible authority: an HTTPS token
// service that unmodified Entra ID clients (MSAL Python, azure-identity, MSAL
// Go, azidentity, appcred) can get client-credentials tokens from, offline.
//
// It serves, with the tenant as the first path segment, OIDC discovery (v2 and
// v1), JWKS, instance discovery and the v2 and v1 token endpoints. Clients
// authenticate with a client secret (form or HTTP Basic) or a client assertion
// signed by a registered certificate (RS256 or PS256, every header and claim
// variant real clients send). Tokens are RS256 JWTs with Entra's v1 or v2
// claims, chosen by the resource's access token version, and errors have
// Entra's JSON shape and AADSTS codes. A "claims" request is honoured as
// Entra does for app tokens: client capabilities (xms_cc, e.g. CP1) go into
// tokens for resources that opted in to the optional claim, requested
// authentication contexts (acrs) are granted, and a CAE nbf challenge is
// satisfied by the issue time; malformed claims get AADSTS90100.
//
// Everything lives in a state directory (mode 0700):
//
//	ca.pem, ca-key.pem     local CA (trust ca.pem in clients)
//	tls.pem, tls-key.pem   server certificate for localhost, 127.0.0.1, ::1 and extra hostnames
//	keys/*.pem             RSA-2048 token signing keys with self-signed certificates (0600); newest signs
//	directory.json         tenants, apps, hashed secrets, certificates, grants (0600, atomic writes)
//	directory.lock         flock taken by writers
//
// Admin changes (State methods, also on Authority) are locked atomic writes
// that a running server picks up within about 100 ms.
//
// From Go (tests, the CLI's demo):
//
//	a, err := sts.Start(ctx, sts.Options{StateDir: dir})   // https://127.0.0.1:<ephemeral>
//	defer a.Close()
//	s := a.Seed()                 // dev tenant: TenantID, ClientID, ClientSecret, Scope
//	hc := a.HTTPClient()          // trusts a.CAFile() / a.CACertPEM()
//	tokenURL := a.TokenEndpoint(s.TenantID)
package sts
