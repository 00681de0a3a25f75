package sts

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/appcred/appcred/sts/directory"
)

// The user (delegated) grants (entra-protocol.md §4, §14).
const (
	grantPassword     = "password"
	grantRefreshToken = "refresh_token"
	grantJWTBearer    = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	onBehalfOf        = "on_behalf_of"
)

// userGrantFields are the form fields of the user grants. They hold a
// password, a user assertion and a refresh token: never log or echo them.
type userGrantFields struct {
	username          string
	password          string
	userAssertion     string // "assertion" of the on-behalf-of grant
	requestedTokenUse string
	refreshToken      string
}

func readUserGrantFields(form url.Values) userGrantFields {
	return userGrantFields{
		username:          form.Get("username"),
		password:          form.Get("password"),
		userAssertion:     form.Get("assertion"),
		requestedTokenUse: form.Get("requested_token_use"),
		refreshToken:      form.Get("refresh_token"),
	}
}

// userGrant answers the password, on-behalf-of and refresh-token grants with
// a delegated access token for the user, plus a refresh token when
// offline_access was asked and an id_token and client_info when openid or
// profile were asked. Of a claims request (cr, nil when none) it honours an
// MFA policy id (see asksMFA); a resource with require_mfa gets a token only
// for a sign-in with MFA, else interaction_required AADSTS50079 with its
// claims challenge.
func (a *Authority) userGrant(w http.ResponseWriter, rc *reqCtx, snap *snapshot, t *directory.TenantIndex, req *tokenRequest, cr *claimsRequest, seg string, v1 bool) {
	client, acr, e := a.userClient(t, req, rc, seg, v1)
	if e != nil {
		writeError(w, rc, e)
		return
	}
	var u *directory.User
	var prior *refreshRecord
	mfa := false
	switch req.grantType {
	case grantPassword:
		u, e = passwordUser(t, &req.user)
		mfa = cr.asksMFA(t)
	case grantJWTBearer:
		u, mfa, e = checkOBORequest(snap, t, client, &req.user, rc)
	default:
		if u, prior, e = a.redeemRefresh(t, client, &req.user, rc); prior != nil {
			mfa = prior.mfa
		}
	}
	if e != nil {
		writeError(w, rc, e)
		return
	}
	g, e := delegatedScopes(t, client, req, v1, prior)
	if e == nil && g.resource.RequireMFA && !mfa {
		if prior != nil { // the refresh token stays good for what it can do
			a.refresh.put(req.user.refreshToken, *prior)
		}
		e = mfaRequired(g.resource)
	}
	if e != nil {
		writeError(w, rc, e)
		return
	}
	p := userMint{host: rc.host, tenant: t, client: client, user: u, grant: g, acr: acr, mfa: mfa, now: rc.now}
	res, err := a.mintUserResponse(snap.keys.Current(), p)
	if err != nil {
		a.log.Error("signing a user token", "err", err)
		writeError(w, rc, newErr(http.StatusInternalServerError, "temporarily_unavailable", codeInternal,
			"The local authority could not sign the token."))
		return
	}
	rc.signin.issued(res.accessToken)
	a.writeTokenResponse(w, res, v1)
}

// userClient identifies the calling app: a public client may use the
// password and refresh-token grants without a credential (acr "0"); every
// other case authenticates as the client-credentials grant does.
func (a *Authority) userClient(t *directory.TenantIndex, req *tokenRequest, rc *reqCtx, seg string, v1 bool) (*directory.App, string, *Error) {
	if req.grantType != grantJWTBearer && req.clientSecret == "" && req.assertion == "" && req.assertionType == "" {
		if app := t.App(req.clientID); app != nil && app.PublicClient {
			return app, "0", nil
		}
	}
	return a.authenticate(t, req, rc, seg, v1)
}

// passwordUser checks the resource owner's user name and password.
func passwordUser(t *directory.TenantIndex, f *userGrantFields) (*directory.User, *Error) {
	switch {
	case f.username == "":
		return nil, missingParam("username")
	case f.password == "":
		return nil, missingParam("password")
	}
	u := t.CheckPassword(f.username, f.password)
	if u == nil {
		return nil, newErr(http.StatusBadRequest, "invalid_grant", codeBadUserCredentials,
			"Error validating credentials due to invalid username or password.")
	}
	return u, nil
}

// delegatedGrant is what a user token is for: a resource, its name as the
// client wrote it, the granted delegated scopes, and the OpenID Connect
// scopes asked for (lower case).
type delegatedGrant struct {
	resource  *directory.App
	requested string
	scp       []string
	oidc      []string
	dflt      bool // "{resource}/.default" was asked: echoed in the response scope
}

func (g *delegatedGrant) asked(oidcScope string) bool { return slices.Contains(g.oidc, oidcScope) }

// delegatedScopes resolves the scopes of a user grant: named scopes of one
// resource ("api://orders/Orders.Read") or its "/.default" (every consented
// scope), or v1's "resource"; the result is what was asked ∩ what the client
// is consented to (AADSTS65001 when empty). A refresh-token grant without
// resource scopes keeps the resource of the refresh token.
func delegatedScopes(t *directory.TenantIndex, client *directory.App, req *tokenRequest, v1 bool, prior *refreshRecord) (*delegatedGrant, *Error) {
	g := &delegatedGrant{}
	var names []string
	all := false
	for _, s := range strings.Fields(req.scope) {
		if ignoredScopes[strings.ToLower(s)] {
			if l := strings.ToLower(s); !slices.Contains(g.oidc, l) {
				g.oidc = append(g.oidc, l)
			}
			continue
		}
		if v1 && req.resource != "" {
			continue // v1: the resource parameter decides
		}
		i := strings.LastIndexByte(s, '/')
		if i <= 0 || i == len(s)-1 {
			return nil, invalidScope(s, "A delegated scope is written {resource}/{scope}, such as api://orders/Orders.Read.")
		}
		res, name := s[:i], s[i+1:]
		if g.requested != "" && !directory.SameResource(g.requested, res) {
			return nil, newErr(http.StatusBadRequest, "invalid_scope", codeMultipleResources,
				"The provided value for the input parameter scope is not valid because it contains more than one resource. "+
					"Scope %s is not valid.", clip(req.scope))
		}
		g.requested = res
		if name == ".default" {
			all = true
		} else {
			names = append(names, name)
		}
	}
	switch {
	case v1 && req.resource != "":
		g.requested, all = strings.TrimSpace(req.resource), true
	case all && len(names) > 0:
		return nil, invalidScope(req.scope, "'{resource}/.default' cannot be combined with named scopes.")
	case g.requested == "" && prior != nil:
		g.requested, names, all = prior.resource, prior.scp, false
	case g.requested == "" && v1 && req.scope == "":
		return nil, missingParam("resource")
	case g.requested == "":
		return nil, invalidScope(req.scope, "Ask for a scope of an API, such as api://orders/Orders.Read.")
	}
	g.dflt = all && !(v1 && req.resource != "")
	return g, g.resolve(t, client, names, all)
}

// resolve finds the resource and intersects the asked scope names with the
// client's consent.
func (g *delegatedGrant) resolve(t *directory.TenantIndex, client *directory.App, names []string, all bool) *Error {
	g.resource = t.Resource(g.requested)
	if g.resource == nil {
		return resourceNotFound(g.requested, t.ID())
	}
	consented := t.DelegatedScopes(client, g.resource)
	for _, n := range names {
		if !slices.ContainsFunc(g.resource.Scopes, func(x string) bool { return strings.EqualFold(x, n) }) {
			return invalidScope(g.requested+"/"+n, "The API does not expose this delegated scope.")
		}
	}
	for _, c := range consented {
		if all || slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, c) }) {
			g.scp = append(g.scp, c)
		}
	}
	if len(g.scp) == 0 {
		return newErr(http.StatusBadRequest, "invalid_grant", codeConsentRequired,
			"The user or administrator has not consented to use the application with ID '%s' named '%s'. "+
				"Send an interactive authorization request for this user and resource.", client.ClientID, client.DisplayName)
	}
	return nil
}

func invalidScope(scope, why string) *Error {
	return newErr(http.StatusBadRequest, "invalid_scope", codeInvalidScope,
		"The provided value for the input parameter 'scope' is not valid. The scope %s is not valid. %s", clip(scope), why)
}

// responseScope is the "scope" of the response: the granted scopes named
// through the resource as the client wrote it ("{resource}/.default" too
// when it was asked: MSAL Go fails a response missing a requested scope),
// then the OpenID Connect scopes asked for.
func (g *delegatedGrant) responseScope() string {
	base := strings.TrimRight(g.requested, "/") + "/"
	out := make([]string, 0, len(g.scp)+len(g.oidc)+1)
	for _, s := range g.scp {
		out = append(out, base+s)
	}
	if g.dflt {
		out = append(out, base+".default")
	}
	return strings.Join(append(out, g.oidc...), " ")
}
