package sts

import (
	"net/http"
	"slices"

	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/sts/directory"
)

// Multi-factor authentication, simulated (entra-protocol.md §4.2): an API
// with require_mfa gets user tokens only for sign-ins that included MFA.
// A password grant whose claims request names an MFA policy id of the tenant
// (the challenge relayed from interaction_required) counts as one; its tokens
// carry amr ["pwd","mfa"], an on-behalf-of grant inherits it from the user
// assertion's amr, and a refresh token from the sign-in it continues.

// amrMFA is the "amr" (authentication methods) value of a sign-in with MFA.
const amrMFA = "mfa"

// mfaRequired is Entra's answer when a conditional-access policy of resource
// requires MFA: 400 interaction_required AADSTS50079 with a claims challenge
// naming the policy, which the middle tier relays to the user's client.
func mfaRequired(resource *directory.App) *Error {
	e := newErr(http.StatusBadRequest, "interaction_required", codeMFARequired,
		"Due to a configuration change made by your administrator, or because you moved to a new location, you must "+
			"enroll in multi-factor authentication to access '%s'.", resource.ClientID)
	e.Claims = mfaChallenge(resource.MFAPolicyID())
	return e
}

// mfaChallenge is the claims challenge of a policy: a minified JSON claims
// request, as Entra sends it. The policy id is a GUID, so it needs no escaping.
func mfaChallenge(policyID string) string {
	return `{"access_token":{"polids":{"essential":true,"values":["` + policyID + `"]}}}`
}

// asksMFA reports whether cr asks for the MFA policy of an app of t: the
// user's client satisfies the challenge by signing in with MFA.
func (cr *claimsRequest) asksMFA(t *directory.TenantIndex) bool {
	if cr == nil || len(cr.polids) == 0 {
		return false
	}
	for _, a := range t.Apps() {
		if a.RequireMFA && slices.Contains(cr.polids, a.MFAPolicyID()) {
			return true
		}
	}
	return false
}

// amrHasMFA reports whether a token's "amr" claim includes "mfa".
func amrHasMFA(claims jwt.MapClaims) bool {
	amr, _ := claims["amr"].([]any)
	return slices.Contains(amr, any(amrMFA))
}

// amrOf is the "amr" of a user token for a sign-in with or without MFA.
func amrOf(mfa bool) []string {
	if mfa {
		return []string{"pwd", amrMFA}
	}
	return []string{"pwd"}
}
