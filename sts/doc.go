// Package sts is appcred's local Entra-compatible authority: an HTTPS token
// service that unmodified Entra ID clients (MSAL Python, azure-identity, MSAL
// Go, azidentity, appcred) can get client-credentials tokens from, offline,
// and user (delegated) tokens: the password grant for test users, the
// on-behalf-of grant (jwt-bearer, requested_token_use=on_behalf_of) and the
// refresh-token grant (usergrant.go, obo.go, refresh.go, usermint.go).
// Refresh tokens are 32 random bytes kept in memory by SHA-256 only: they
// are rotated on use and die with the process, with their user or with the
// app's consent.
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
//	directory.json         tenants, apps, users, hashed secrets and passwords, certificates, grants (0600, atomic writes)
//	directory.lock         lock file taken by writers (flock; LockFileEx on Windows)
//
// Admin changes (directory.State methods, also on Authority) are locked atomic writes
// that a running server picks up within about 100 ms. Open creates the CA,
// server certificate, first signing key and development tenant under the
// same lock, so processes starting together on a new directory agree.
//
// Security choices:
//   - The local CA carries critical NameConstraints: DNS localhost plus the
//     Hostnames (and their subdomains), IP 127.0.0.0/8, ::1/128 plus IP
//     Hostnames. A Hostname outside an existing CA's constraints (or a CA
//     without constraints) makes Open replace the CA by one permitting the old
//     and new names, logging a warning: clients must trust the new ca.pem.
//   - The Host header must name the authority (a certificate name or the
//     listen address, with the port the request came in on), since it becomes
//     the issuer, the discovery URLs and the expected assertion audience;
//     localhost and 127.0.0.1 both work, as distinct issuers; each name has one
//     spelling (lower case, IPv4-mapped IPv6 as IPv4). Another Host is
//     answered 400 invalid_instance, AADSTS50049 ("Unknown or invalid
//     instance"), without echoing it.
//   - The state directory must belong to the current user and not be
//     writable by group or others; its files are read without following
//     symbolic links and refused when another user owns or may write them.
//   - Client assertions: canonical base64url, no "crit" header, RSA keys of at
//     least 2048 bits, plausible times, valid for at most MaxAssertionLifetime.
//     A v1 token's aud is the resource's registered identifier.
//   - TLS 1.2 offers only AEAD suites; responses carry
//     X-Content-Type-Options: nosniff; encoded slashes in paths are not routed.
//   - The JWKS is served with max-age=300. Keys are not pre-published:
//     RotateKey's key signs at once, so a resource server caching the JWKS by
//     its header, without refetching on an unknown kid, may reject new tokens
//     for up to 5 minutes.
//
// This package is the protocol: routes, discovery, the token endpoint,
// client authentication (secrets and assertions), claims requests, minting,
// and the Authority that serves them. Package sts/directory is the state
// directory (tenants and app registrations, config, admin operations, the
// lock) and sts/pki the CA, TLS certificate and signing keys with the JWKS.
//
// From Go (tests, the CLI's demo):
//
//	a, err := sts.Start(ctx, sts.Options{StateDir: dir})   // https://127.0.0.1:<ephemeral>
//	defer a.Close()
//	s := a.Seed()                 // dev tenant: TenantID, ClientID, ClientSecret, Scope
//	hc := a.HTTPClient()          // trusts a.CAFile() / a.CACertPEM()
//	tokenURL := a.TokenEndpoint(s.TenantID)
package sts
