// Package proof holds what an application uses to prove who it is: a client
// secret, or a certificate and its private key from which a fresh signed client
// assertion (a JWT, RFC 7523) is made for every token request.
//
// It also computes the certificate thumbprints Entra ID and other authorities
// use to find the key: SHA-1 (header "x5t") and SHA-256 (header "x5t#S256").
// It knows nothing about HTTP.
package proof
