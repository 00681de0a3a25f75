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

	"github.com/appcred/appcred/aadsts"
	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts/directory"
)

// ClockSkew is the clock skew allowed when checking a client assertion's
// exp, nbf and iat.
const ClockSkew = 5 * time.Minute

const certDocs = " Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."

// authenticate identifies and authenticates the client: a secret (body or
// HTTP Basic) or a client assertion. acr is "1" for a secret, "2" for a certificate.
func (a *Authority) authenticate(t *directory.TenantIndex, req *tokenRequest, rc *reqCtx, seg string, v1 bool) (*directory.App, string, *Error) {
	if req.clientID == "" {
		return nil, "", missingParam("client_id")
	}
	app := t.App(req.clientID)
	if app == nil {
		return nil, "", newErr(http.StatusBadRequest, "unauthorized_client", codeAppNotFound,
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application "+
				"has not been installed by the administrator of the tenant or consented to by any user in the tenant. "+
				"You may have sent your authentication request to the wrong tenant.", clip(req.clientID), t.ID())
	}
	hasAssertion := req.assertion != "" || req.assertionType != ""
	switch {
	case req.clientSecret != "" && hasAssertion:
		return nil, "", newErr(http.StatusUnauthorized, "invalid_client", codeCredentialsInvalid,
			"Error validating credentials. Send either 'client_assertion' or 'client_secret', not both.")
	case req.clientSecret != "":
		m := t.MatchSecret(app, req.clientSecret, rc.now)
		if m != directory.SecretValid && req.basic && req.basicRaw != req.clientSecret {
			m = max(m, t.MatchSecret(app, req.basicRaw, rc.now))
		}
		switch m {
		case directory.SecretExpired:
			return nil, "", newErr(http.StatusUnauthorized, "invalid_client", aadsts.ClientSecretExpired,
				"The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys "+
					"for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added "+
					"security: https://aka.ms/certCreds.", app.ClientID)
		case directory.SecretNoMatch:
			return nil, "", newErr(http.StatusUnauthorized, "invalid_client", codeInvalidSecret,
				"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, "+
					"not the client secret ID, for a secret added to app '%s'.", app.ClientID)
		}
		return app, "1", nil
	case hasAssertion:
		if req.assertionType == "" {
			return nil, "", missingParam("client_assertion_type")
		}
		if req.assertionType != jwtBearer {
			return nil, "", newErr(http.StatusBadRequest, "invalid_request", codeCredentialsInvalid,
				"Error validating credentials. client_assertion_type '%s' is not supported; use '%s'.", clip(req.assertionType), jwtBearer)
		}
		if req.assertion == "" {
			return nil, "", missingParam("client_assertion")
		}
		if e := verifyAssertion(t, app, req.assertion, assertionAudiences(rc.host, t.ID(), seg, v1), rc.now); e != nil {
			return nil, "", e
		}
		return app, "2", nil
	default:
		return nil, "", newErr(http.StatusUnauthorized, "invalid_client", codeNoCredential,
			"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
}

// assertionAudiences are the token endpoints a client assertion may be
// addressed to: the advertised v2 endpoint (by tenant id and by the tenant as
// written in the request path), and for v1 requests the v1 endpoint too.
func assertionAudiences(host, tid, seg string, v1 bool) []string {
	base := "https://" + host + "/"
	auds := []string{base + tid + "/oauth2/v2.0/token"}
	if !strings.EqualFold(seg, tid) {
		auds = append(auds, base+seg+"/oauth2/v2.0/token")
	}
	if v1 {
		auds = append(auds, base+tid+"/oauth2/token")
		if !strings.EqualFold(seg, tid) {
			auds = append(auds, base+seg+"/oauth2/token")
		}
	}
	return auds
}

// verifyAssertion checks a client assertion (RFC 7523) for app, accepting
// every variant real clients send (entra-protocol.md §3.5): RS256 or PS256;
// the key found by "x5t#S256" or "x5t" in base64url or standard base64, padded
// or not (or, without a thumbprint, by an "x5c" leaf registered on the app);
// integer or float times; no nbf or iat; a jti reused within the lifetime.
// aud must be one of auds, iss = sub = the app's client id. It is strict
// where leniency would let a forger in: canonical base64url only, no "crit"
// header, RSA keys of at least 2048 bits, plausible times and a lifetime of
// at most MaxAssertionLifetime.
func verifyAssertion(t *directory.TenantIndex, app *directory.App, assertion string, auds []string, now time.Time) *Error {
	var keyErr *Error
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256", "PS256"}),
		jwt.WithLeeway(ClockSkew),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithStrictDecoding(), // canonical base64url only: no malleable trailing bits
	)
	claims := jwt.MapClaims{}
	_, err := parser.ParseWithClaims(assertion, claims, func(tok *jwt.Token) (any, error) {
		e := checkCrit(tok.Header)
		var k *rsa.PublicKey
		if e == nil {
			k, e = assertionKey(t, app, tok.Header, now)
		}
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
					"certificate registered on app '%s'.", app.ClientID)
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
	if e := checkLifetime(claims, now); e != nil {
		return e
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
	if !strings.EqualFold(iss, app.ClientID) {
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
func assertionKey(t *directory.TenantIndex, app *directory.App, h map[string]any, now time.Time) (*rsa.PublicKey, *Error) {
	var tried []string
	var found *directory.CertKey
	if s, ok := h["x5t#S256"].(string); ok && s != "" {
		if b, err := proof.DecodeThumbprint(s); err == nil && len(b) == sha256.Size {
			found = t.CertBySHA256(app, [32]byte(b))
			tried = append(tried, strings.ToUpper(hex.EncodeToString(b)))
		} else {
			tried = append(tried, "(undecodable x5t#S256)")
		}
	}
	if s, ok := h["x5t"].(string); ok && s != "" && found == nil {
		if b, err := proof.DecodeThumbprint(s); err == nil && len(b) == 20 {
			found = t.CertBySHA1(app, [20]byte(b))
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
		found = x5cKey(t, app, h["x5c"])
		tried = append(tried, "(x5c leaf)")
	}
	reason := "The key was not found."
	if found != nil {
		if now.Before(found.NotBefore.Add(-ClockSkew)) || now.After(found.NotAfter.Add(ClockSkew)) {
			reason = "The key used is expired or not yet valid."
		} else if e := checkKeySize(found.Public, app.ClientID); e != nil {
			return nil, e
		} else {
			return found.Public, nil
		}
	}
	return nil, newErr(http.StatusUnauthorized, "invalid_client", codeAssertionSignature,
		"Client assertion contains an invalid signature. [Reason - %s, Thumbprint of key used by "+
			"client: '%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys "+
			"for app Id '%s'.]", reason, strings.Join(tried, "', '"), app.ClientID)
}

// x5cKey returns the key of an x5c leaf certificate registered on the app.
func x5cKey(t *directory.TenantIndex, app *directory.App, v any) *directory.CertKey {
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
	return t.CertBySHA256(app, s256)
}
