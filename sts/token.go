package sts

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/appcred/appcred/sts/directory"
)

// MaxFormBytes caps the token request body; longer bodies get HTTP 413.
const MaxFormBytes = 64 << 10

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// tokenRequest is the part of a token request the authority reads; other
// form fields (client_info, telemetry) are ignored.
type tokenRequest struct {
	grantType     string
	clientID      string
	clientSecret  string
	assertionType string
	assertion     string
	scope         string
	resource      string
	claims        string // OpenID Connect claims request (JSON), parsed only when present
	basic         bool   // credentials came in an HTTP Basic header
	basicRaw      string // the Basic secret before form-decoding (some clients do not encode it)
	user          userGrantFields
}

// parseTokenRequest reads the form of a token request: at most MaxFormBytes of
// application/x-www-form-urlencoded body, plus HTTP Basic client credentials.
func parseTokenRequest(w http.ResponseWriter, r *http.Request) (*tokenRequest, *Error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct != "" && (err != nil || mt != "application/x-www-form-urlencoded") {
		return nil, newErr(http.StatusBadRequest, "invalid_request", codeMissingParameter,
			"The request body must contain the following parameter: 'grant_type'. "+
				"The body must be application/x-www-form-urlencoded.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxFormBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, newErr(http.StatusRequestEntityTooLarge, "invalid_request", codeBodyTooLarge,
				"The request body is larger than %d bytes.", MaxFormBytes)
		}
		return nil, newErr(http.StatusBadRequest, "invalid_request", codeMissingParameter,
			"The request body could not be read.")
	}
	return parseTokenForm(string(body), r.Header.Get("Authorization"))
}

// parseTokenForm parses a token request body and Authorization header. Bad
// escapes or separators make the form invalid as a whole.
func parseTokenForm(body, authorization string) (*tokenRequest, *Error) {
	form, err := url.ParseQuery(body)
	if err != nil {
		return nil, newErr(http.StatusBadRequest, "invalid_request", codeMissingParameter,
			"The request body must contain the following parameter: 'grant_type'. "+
				"The body is not a valid application/x-www-form-urlencoded form.")
	}
	req := &tokenRequest{
		grantType:     form.Get("grant_type"),
		clientID:      form.Get("client_id"),
		clientSecret:  form.Get("client_secret"),
		assertionType: form.Get("client_assertion_type"),
		assertion:     form.Get("client_assertion"),
		scope:         form.Get("scope"),
		resource:      form.Get("resource"),
		claims:        form.Get("claims"),
		user:          readUserGrantFields(form),
	}
	if authorization != "" {
		id, secret, raw, ok := parseBasic(authorization)
		if !ok {
			return nil, newErr(http.StatusUnauthorized, "invalid_client", codeCredentialsInvalid,
				"Error validating credentials. The Authorization header is not valid HTTP Basic client authentication.")
		}
		if req.clientSecret != "" {
			return nil, newErr(http.StatusUnauthorized, "invalid_client", codeCredentialsInvalid,
				"Error validating credentials. The client secret was sent both in the body and in the Authorization header.")
		}
		if req.clientID != "" && req.clientID != id {
			return nil, newErr(http.StatusUnauthorized, "invalid_client", codeCredentialsInvalid,
				"Error validating credentials. The client_id in the body does not match the one in the Authorization header.")
		}
		req.basic, req.basicRaw, req.clientSecret, req.clientID = true, raw, secret, id
	}
	return req, nil
}

// parseBasic decodes "Basic base64(urlencode(id):urlencode(secret))" (RFC
// 6749 §2.3.1); raw is the secret as sent, for clients that do not encode it.
func parseBasic(h string) (id, secret, raw string, ok bool) {
	r := &http.Request{Header: http.Header{"Authorization": {h}}}
	id, raw, ok = r.BasicAuth()
	if !ok || id == "" {
		return "", "", "", false
	}
	if u, err := url.QueryUnescape(id); err == nil {
		id = u
	}
	secret = raw
	if u, err := url.QueryUnescape(raw); err == nil {
		secret = u
	}
	return id, secret, raw, true
}

func (a *Authority) token(w http.ResponseWriter, r *http.Request, rc *reqCtx, seg string, v1 bool) {
	defer a.endSignin(a.beginSignin(r, rc, seg, v1))
	if r.Method != http.MethodPost {
		writeError(w, rc, newErr(http.StatusMethodNotAllowed, "invalid_request", codeNotPOST,
			"The endpoint only accepts POST, OPTIONS requests. Received a %s request.", sanitizeMethod(r.Method)))
		return
	}
	snap := a.current()
	t := snap.dir.Tenant(seg)
	if t == nil {
		if isMultiTenant(seg) {
			writeError(w, rc, newErr(http.StatusBadRequest, "invalid_request", codeCommonTenant,
				"The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint."))
			return
		}
		writeError(w, rc, tenantNotFound(seg))
		return
	}
	req, e := parseTokenRequest(w, r)
	if e != nil {
		writeError(w, rc, e)
		return
	}
	rc.signin.req = req
	switch req.grantType {
	case "client_credentials", grantPassword, grantJWTBearer, grantRefreshToken:
	case "":
		writeError(w, rc, missingParam("grant_type"))
		return
	default:
		writeError(w, rc, newErr(http.StatusBadRequest, "unsupported_grant_type", codeUnsupportedGrant,
			// The value is not echoed: a secret pasted into the wrong field must not come back in the answer or the logs.
			"The app requested an unsupported grant type. This local authority supports 'client_credentials', 'password', 'refresh_token' and '%s'.", grantJWTBearer))
		return
	}
	var cr *claimsRequest
	if req.claims != "" {
		if cr, e = parseClaims(req.claims, rc.now); e != nil {
			writeError(w, rc, e)
			return
		}
	}
	if req.grantType != "client_credentials" {
		a.userGrant(w, rc, snap, t, req, cr, seg, v1)
		return
	}
	client, acr, e := a.authenticate(t, req, rc, seg, v1)
	if e != nil {
		writeError(w, rc, e)
		return
	}
	res, requested, e := requestedResource(t, req, v1)
	if e != nil {
		writeError(w, rc, e)
		return
	}
	requested = registeredResource(res, requested)
	p := mintParams{host: rc.host, tenant: t, client: client, resource: res, requested: requested, acr: acr, now: rc.now}
	if cr != nil {
		p.acrs = cr.acrs
		if res.HasOptionalClaim(directory.OptionalClaimXmsCC) {
			p.xmsCC = cr.xmsCC
		}
	}
	tok, err := a.mint(snap.keys.Current(), p)
	if err != nil {
		a.log.Error("signing a token", "err", err)
		writeError(w, rc, newErr(http.StatusInternalServerError, "temporarily_unavailable", codeInternal,
			"The local authority could not sign the token."))
		return
	}
	a.writeToken(w, rc, tok, requested, v1)
}

func (a *Authority) writeToken(w http.ResponseWriter, rc *reqCtx, tok, resource string, v1 bool) {
	rc.signin.issued(tok)
	a.writeTokenResponse(w, &tokenResponse{accessToken: tok, resource: resource, now: rc.now}, v1)
}

// writeTokenBody answers 200 with a JSON token response, never cached.
func writeTokenBody(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func missingParam(name string) *Error {
	return newErr(http.StatusBadRequest, "invalid_request", codeMissingParameter,
		"The request body must contain the following parameter: '%s'.", name)
}

func resourceNotFound(res, tid string) *Error {
	return newErr(http.StatusBadRequest, "invalid_resource", codeResourceNotFound,
		"The resource principal named %s was not found in the tenant named %s. This can happen if the application has "+
			"not been installed by the administrator of the tenant or consented to by any user in the tenant. "+
			"You might have sent your authentication request to the wrong tenant.", clip(res), tid)
}

// clip shortens client-supplied text echoed in error descriptions.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// requestedResource finds the resource a token request asks for: v1's
// "resource" parameter or else the "{resource}/.default" scope. It returns
// the resource and its name as the client wrote it.
func requestedResource(t *directory.TenantIndex, req *tokenRequest, v1 bool) (*directory.App, string, *Error) {
	if v1 && req.resource != "" {
		requested := strings.TrimSpace(req.resource)
		res := t.Resource(requested)
		if res == nil {
			return nil, "", resourceNotFound(requested, t.ID())
		}
		return res, requested, nil
	}
	if req.scope == "" {
		name := "scope"
		if v1 {
			name = "resource"
		}
		return nil, "", missingParam(name)
	}
	return resolveScope(t, req.scope)
}

// ignoredScopes may accompany a /.default scope in client-credentials
// requests (MSAL Go always adds them) and are ignored.
var ignoredScopes = map[string]bool{"openid": true, "offline_access": true, "profile": true, "email": true}

const defaultSuffix = "/.default"

// trimDefault returns s without a trailing "/.default" (any case), and
// whether it had one.
func trimDefault(s string) (string, bool) {
	if len(s) < len(defaultSuffix) || !strings.EqualFold(s[len(s)-len(defaultSuffix):], defaultSuffix) {
		return s, false
	}
	return s[:len(s)-len(defaultSuffix)], true
}

// resolveScope finds the one resource a client-credentials scope names
// ("{resource}/.default"), returning it and the resource as written.
func resolveScope(t *directory.TenantIndex, scope string) (*directory.App, string, *Error) {
	var resource string
	var nonDefault []string
	for _, s := range strings.Fields(scope) {
		if ignoredScopes[strings.ToLower(s)] {
			continue
		}
		r, ok := trimDefault(s)
		if !ok {
			nonDefault = append(nonDefault, s)
			continue
		}
		if strings.TrimRight(r, "/") == "" {
			return nil, "", newErr(http.StatusBadRequest, "invalid_scope", codeInvalidScope,
				"The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", clip(scope))
		}
		if resource != "" && !directory.SameResource(resource, r) {
			return nil, "", newErr(http.StatusBadRequest, "invalid_scope", codeMultipleResources,
				"The provided value for the input parameter scope is not valid because it contains more than one resource. "+
					"Scope %s is not valid.", clip(scope))
		}
		resource = r
	}
	switch {
	case resource == "":
		return nil, "", newErr(http.StatusBadRequest, "invalid_scope", codeScopeNotDefault,
			"The provided value for scope %s is not valid. Client credential flows must have a scope value with "+
				"/.default suffixed to the resource identifier (application ID URI).", clip(scope))
	case len(nonDefault) > 0:
		return nil, "", newErr(http.StatusBadRequest, "invalid_scope", codeInvalidScope,
			"The provided value for the input parameter 'scope' is not valid. The scope %s is not valid. "+
				"Client credential flows take only '{resource}/.default'.", clip(scope))
	}
	res := t.Resource(resource)
	if res == nil {
		return nil, "", resourceNotFound(resource, t.ID())
	}
	return res, resource, nil
}
