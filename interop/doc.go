// Package interop holds appcred's interoperability tests: real, unmodified
// Entra ID client libraries get client-credentials tokens from appcred's local
// authority (package sts) over TLS on an ephemeral loopback port.
//
// The clients are MSAL Go v1.10.1 and azidentity v1.15.0 (test-only Go
// dependencies), and MSAL Python 1.21 and azure-identity 1.13.0b2 from
// Debian's python3-msal and python3-azure, run by Debian's system python3
// ($APPCRED_PYTHON, else /usr/bin/python3) through the scripts in testdata.
// Each client authenticates with a client secret and with a certificate,
// with instance discovery off and the authority's local CA trusted; every
// token's signature is verified against the authority's JWKS, its claims are
// checked, and a second request must be answered from the client's own cache.
//
// When Python or its modules are missing the Python tests skip, except under
// CI=true, where a missing peer is a failure.
//
// Run them with:
//
//	go test -race ./interop/
//
// The package has no exported API; it holds only tests.
package interop
