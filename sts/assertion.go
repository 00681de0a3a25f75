package sts

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/proof"
)

// ClockSkew is the clock skew allowed when checking a client assertion's
// exp, nbf and iat.
const ClockSkew = 5 * time.Minute

const certDocs = " Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."

// verifyAssertion checks a client assertion (RFC 7523) for app, accepting
// every variant real clients send (entra-protocol.md §3.5): RS256 or PS256;
// the key found by "x5t#S256" or "x5t" in base64url or standard base64, padded
// or not (or, without a thumbprint, by an "x5c" leaf registered on the app);
// integer or float times; no nbf or iat; a jti reused within the lifetime.
// aud must be one of auds, iss = sub = the app's client id.
func verifyAssertion(app *appIdx, assertion string, auds []string, now time.Time) *Error {
	var keyErr *Error
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256", "PS256"}),
		jwt.WithLeeway(ClockSkew),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	claims := jwt.MapClaims{}
	_, err := parser.ParseWithClaims(assertion, claims, func(tok *jwt.Token) (any, error) {
		k, e := assertionKey(app, tok.Header, now)
		if e != nil {
			keyErr = e
			return nil, e
		}
		return k, nil
	})
	if err != nil {
		switch {
		case keyErr != nil:
			return keyErr
		case errors.Is(err, jwt.ErrTokenMalformed):
			return newErr(http.StatusUnauthorized, "invalid_client", codeInvalidJWT,
				"Invalid JWT token. The token is malformed.")
		case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
			return newErr(http.StatusUnauthorized, "invalid_client", codeAssertionSignature,
				"Client assertion failed signature validation. The assertion must be signed with RS256 or PS256 by a "+
					"certificate registered on app '%s'.", app.clientID)
		case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet),
			errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
			return timeRangeError(claims, now)
		case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
			return newErr(http.StatusUnauthorized, "invalid_client", codeInvalidJWT,
				"Invalid JWT token. The client assertion must contain an 'exp' claim.")
		default:
			return newErr(http.StatusUnauthorized, "invalid_client", codeInvalidJWT,
				"Invalid JWT token. The client assertion's claims are not valid.")
		}
	}
	if aud, ok := singleAudience(claims["aud"]); !ok || !containsFold(auds, aud) {
		return newErr(http.StatusUnauthorized, "invalid_client", codeAssertionAudience,
			"Client assertion audience claim does not match Realm issuer. The audience must be the token endpoint %s."+certDocs, auds[0])
	}
	iss, _ := claims["iss"].(string)
	sub, _ := claims["sub"].(string)
	if iss != sub {
		return newErr(http.StatusUnauthorized, "invalid_client", codeAssertionSubject,
			"Subject mismatches Issuer claim in the client assertion.")
	}
	if !strings.EqualFold(iss, app.clientID) {
		return newErr(http.StatusUnauthorized, "invalid_client", codeAssertionIssuer,
			"Client assertion application identifier doesn't match 'client_id' parameter."+certDocs)
	}
	return nil
}

// codeAssertionIssuer: iss/sub are not the client id.
const codeAssertionIssuer = 700021

func singleAudience(v any) (string, bool) {
	switch a := v.(type) {
	case string:
		return a, true
	case []any:
		if len(a) == 1 {
			s, ok := a[0].(string)
			return s, ok
		}
	}
	return "", false
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func timeRangeError(claims jwt.MapClaims, now time.Time) *Error {
	from, to := "(none)", "(none)"
	if nbf, err := claims.GetNotBefore(); err == nil && nbf != nil {
		from = nbf.UTC().Format(time.RFC3339)
	} else if iat, err := claims.GetIssuedAt(); err == nil && iat != nil {
		from = iat.UTC().Format(time.RFC3339)
	}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		to = exp.UTC().Format(time.RFC3339)
	}
	return newErr(http.StatusUnauthorized, "invalid_client", codeAssertionTime,
		"Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, "+
			"expiry time of assertion %s.%s", now.UTC().Format(time.RFC3339), from, to, certDocs)
}

// assertionKey finds the RSA public key of the app's certificate that the
// assertion header names; the certificate must be valid at now.
func assertionKey(app *appIdx, h map[string]any, now time.Time) (*rsa.PublicKey, *Error) {
	var tried []string
	var found *certKey
	if s, ok := h["x5t#S256"].(string); ok && s != "" {
		if b, err := proof.DecodeThumbprint(s); err == nil && len(b) == sha256.Size {
			found = app.bySHA256[[32]byte(b)]
			tried = append(tried, strings.ToUpper(hex.EncodeToString(b)))
		} else {
			tried = append(tried, "(undecodable x5t#S256)")
		}
	}
	if s, ok := h["x5t"].(string); ok && s != "" && found == nil {
		if b, err := proof.DecodeThumbprint(s); err == nil && len(b) == 20 {
			found = app.bySHA1[[20]byte(b)]
			tried = append(tried, strings.ToUpper(hex.EncodeToString(b)))
		} else {
			tried = append(tried, "(undecodable x5t)")
		}
	}
	if len(tried) == 0 {
		if _, has := h["x5c"]; !has {
			return nil, newErr(http.StatusUnauthorized, "invalid_client", codeInvalidJWT,
				"Invalid JWT token. No certificate thumbprint specified in token header.")
		}
		found = x5cKey(app, h["x5c"])
		tried = append(tried, "(x5c leaf)")
	}
	reason := "The key was not found."
	if found != nil {
		if now.Before(found.notBefore.Add(-ClockSkew)) || now.After(found.notAfter.Add(ClockSkew)) {
			reason = "The key used is expired or not yet valid."
		} else {
			return found.pub, nil
		}
	}
	return nil, newErr(http.StatusUnauthorized, "invalid_client", codeAssertionSignature,
		"Client assertion contains an invalid signature. [Reason - %s, Thumbprint of key used by "+
			"client: '%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys "+
			"for app Id '%s'.]", reason, strings.Join(tried, "', '"), app.clientID)
}

// x5cKey returns the key of an x5c leaf certificate registered on the app.
func x5cKey(app *appIdx, v any) *certKey {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil
	}
	first, ok := list[0].(string)
	if !ok {
		return nil
	}
	certs, err := proof.ParseX5C([]string{first})
	if err != nil {
		return nil
	}
	_, s256 := proof.Thumbprints(certs[0])
	return app.bySHA256[s256]
}
