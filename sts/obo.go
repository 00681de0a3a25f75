package sts

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/sts/directory"
	"github.com/appcred/appcred/sts/pki"
)

// checkOBORequest checks the on-behalf-of fields (entra-protocol.md §4.1)
// and the user assertion, returning the user the new token is for and
// whether the user's sign-in included MFA (the assertion's amr).
func checkOBORequest(snap *snapshot, t *directory.TenantIndex, client *directory.App, f *userGrantFields, rc *reqCtx) (*directory.User, bool, *Error) {
	switch {
	case f.requestedTokenUse == "":
		return nil, false, missingParam("requested_token_use")
	case f.requestedTokenUse != onBehalfOf:
		return nil, false, newErr(http.StatusBadRequest, "invalid_request", codeInvalidParameter,
			"The value of the parameter 'requested_token_use' is not valid: the jwt-bearer grant takes '%s'.", onBehalfOf)
	case f.userAssertion == "":
		return nil, false, missingParam("assertion")
	}
	return checkUserAssertion(snap.keys, t, client, f.userAssertion, rc.now)
}

func userAssertionError(format string, args ...any) *Error {
	return newErr(http.StatusBadRequest, "invalid_grant", codeUserAssertion, format, args...)
}

// checkUserAssertion checks an on-behalf-of user assertion: a user token
// (with "scp") signed by one of keys (RS256, by "kid"), for tenant t, whose
// "aud" names client (its client id or an identifier URI), within its time
// range (ClockSkew of leeway), for a user who still exists. It returns the
// user and whether the assertion's amr includes "mfa". Failures are
// invalid_grant AADSTS50013, or AADSTS500133 for the time range; their text
// never contains the assertion.
func checkUserAssertion(keys *pki.KeySet, t *directory.TenantIndex, client *directory.App, assertion string, now time.Time) (*directory.User, bool, *Error) {
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithLeeway(ClockSkew),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	).ParseWithClaims(assertion, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		if k := keys.ByKID(kid); k != nil {
			return &k.Key.PublicKey, nil
		}
		return nil, errors.New("unknown kid")
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet):
		return nil, false, newErr(http.StatusBadRequest, "invalid_grant", codeUserAssertionTime,
			"Assertion is not within its valid time range. Ensure that the access token is not expired before using it "+
				"for user assertion, or request a new token. Current time: %s, expiry time of assertion %s.",
			now.UTC().Format(time.RFC3339), assertionExpiry(claims))
	case err != nil:
		return nil, false, userAssertionError("Assertion failed signature validation. The assertion must be an access token " +
			"signed by this authority.")
	}
	if tid, _ := claims["tid"].(string); !strings.EqualFold(tid, t.ID()) {
		return nil, false, userAssertionError("The assertion was issued for another tenant than %s.", t.ID())
	}
	aud, ok := singleAudience(claims["aud"])
	if !ok || t.Resource(aud) != client {
		return nil, false, userAssertionError("Assertion audience does not match the Client app presenting the assertion. "+
			"The audience in the assertion must be the client id or an identifier URI of app '%s'.", client.ClientID)
	}
	scp, _ := claims["scp"].(string)
	oid, _ := claims["oid"].(string)
	if strings.TrimSpace(scp) == "" || oid == "" {
		return nil, false, userAssertionError("The assertion is not a user token (it has no 'scp'); application " +
			"tokens cannot be used for on-behalf-of.")
	}
	u := t.User(oid)
	if u == nil {
		return nil, false, userAssertionError("The user of the assertion (object id %s) does not exist in tenant %s.", clip(oid), t.ID())
	}
	return u, amrHasMFA(claims), nil
}

func assertionExpiry(claims jwt.MapClaims) string {
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		return exp.UTC().Format(time.RFC3339)
	}
	return "(none)"
}
