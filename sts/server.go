package sts

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/appcred/appcred/sts/console"
)

// reqCtx is what every response needs to know about its request.
type reqCtx struct {
	now           time.Time
	host          string // Host header, once checked (hostPolicy): the host (and port) in advertised URLs
	traceID       string
	correlationID string
	signin        *pendingSignin // the sign-in record of a token request, else nil
}

func newReqCtx(r *http.Request) *reqCtx {
	rc := &reqCtx{now: time.Now(), host: r.Host, traceID: uuid.NewString()}
	if rc.host == "" {
		rc.host = "localhost"
	}
	if id := r.Header.Get("Client-Request-Id"); id != "" && validRequestID(id) {
		rc.correlationID = id
	} else {
		rc.correlationID = uuid.NewString()
	}
	return rc
}

// validRequestID accepts a client-request-id that is safe to echo: at most 64
// characters of letters, digits, '-' and '_' (clients send GUIDs).
func validRequestID(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Handler serves the authority's endpoints; the tenant is the first path segment:
//
//	GET  /{tenant}/v2.0/.well-known/openid-configuration   OIDC discovery (v2)
//	GET  /{tenant}/.well-known/openid-configuration        OIDC discovery (v1)
//	GET  /{tenant}/discovery/v2.0/keys, /{tenant}/discovery/keys   JWKS
//	GET  /common/discovery/instance                        instance discovery (api-version 1.0 and 1.1)
//	POST /{tenant}/oauth2/v2.0/token                       token (scope=…/.default)
//	POST /{tenant}/oauth2/token                            token, v1 (resource=…)
//	GET  /_appcred/log                                     the sign-in log, loopback clients only (SignInLogPath)
//	GET  /console, /console/events                         the web console (package console; off with Options.NoConsole)
//
// It serves plain HTTP; Serve and Start put it behind TLS. Advertised URLs use
// the request's Host with https, so the Host must name this authority:
// localhost, 127.0.0.1, ::1, a Hostname, a name on the caller's TLS
// certificate or the listen address, with the port the request arrived on
// (no port means 443). Any other Host is answered with HTTP 400
// invalid_instance, AADSTS50049. Put it behind a proxy only if the proxy
// keeps the Host and the port.
func (a *Authority) Handler() http.Handler {
	return http.HandlerFunc(a.serveHTTP)
}

func (a *Authority) serveHTTP(w http.ResponseWriter, r *http.Request) {
	a.inflight.Add(1)
	defer a.inflight.Add(-1)
	rc := newReqCtx(r)
	if strings.EqualFold(r.Header.Get("Return-Client-Request-Id"), "true") {
		w.Header().Set("Client-Request-Id", rc.correlationID)
	}
	w.Header().Set("X-Ms-Request-Id", rc.traceID)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !a.hosts.Load().allowed(r.Host, localPort(r)) {
		rc.host = a.ownHost() // never echo an unknown Host
		if seg, v1, ok := tokenPath(r.URL.Path); ok {
			defer a.endSignin(a.beginSignin(r, rc, seg, v1))
		}
		writeError(w, rc, unknownHost())
		return
	}
	rc.host = canonicalHost(rc.host) // one issuer per name, whatever its spelling
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.log.Error("internal error", "path", r.URL.Path, "panic", v)
			writeError(w, rc, newErr(http.StatusInternalServerError, "temporarily_unavailable", codeInternal,
				"An internal error occurred in the local authority."))
		}
	}()
	p := r.URL.Path
	if len(p) < 2 || p[0] != '/' || hasEncodedSlash(r.URL) {
		writeError(w, rc, notFound(p))
		return
	}
	tenant, rest, _ := strings.Cut(p[1:], "/")
	rest = "/" + rest
	if a.console != nil && tenant == console.Path[1:] {
		a.console.ServeHTTP(w, r)
		return
	}
	if tenant == adminSegment {
		a.admin(w, r, rc, rest)
		return
	}
	switch rest {
	case "/oauth2/v2.0/token":
		a.token(w, r, rc, tenant, false)
	case "/oauth2/token":
		a.token(w, r, rc, tenant, true)
	case "/v2.0/.well-known/openid-configuration":
		a.openIDConfig(w, r, rc, tenant, false)
	case "/.well-known/openid-configuration":
		a.openIDConfig(w, r, rc, tenant, true)
	case "/discovery/v2.0/keys":
		a.keys(w, r, rc, tenant, false)
	case "/discovery/keys":
		a.keys(w, r, rc, tenant, true)
	case "/discovery/instance":
		a.instanceDiscovery(w, r, rc)
	case "/oauth2/v2.0/authorize", "/oauth2/authorize", "/oauth2/v2.0/devicecode", "/oauth2/devicecode",
		"/oauth2/v2.0/logout", "/oauth2/logout":
		writeError(w, rc, newErr(http.StatusBadRequest, "invalid_request", codeUnsupportedEndpoint,
			"The local authority offers only the token endpoint (client credentials, password, refresh token, on-behalf-of); %s is not offered.", rest))
	default:
		writeError(w, rc, notFound(p))
	}
}

func notFound(path string) *Error {
	if len(path) > 200 {
		path = path[:200] + "…"
	}
	return newErr(http.StatusNotFound, "invalid_request", codeNotFound, "The endpoint %q does not exist.", path)
}

// isMultiTenant reports whether seg is one of Entra's tenant-independent aliases.
func isMultiTenant(seg string) bool {
	switch strings.ToLower(seg) {
	case "common", "organizations", "consumers":
		return true
	}
	return false
}

func tenantNotFound(seg string) *Error {
	if len(seg) > 200 {
		seg = seg[:200] + "…"
	}
	return newErr(http.StatusBadRequest, "invalid_request", codeTenantNotFound,
		"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. "+
			"Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", seg)
}

func requireGET(w http.ResponseWriter, r *http.Request, rc *reqCtx) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	writeError(w, rc, newErr(http.StatusMethodNotAllowed, "invalid_request", codeNotPOST,
		"The endpoint only accepts GET requests. Received a %s request.", sanitizeMethod(r.Method)))
	return false
}

func sanitizeMethod(m string) string {
	if len(m) > 16 || !validRequestID(m) {
		return "non-standard"
	}
	return m
}

func writeJSON(w http.ResponseWriter, status int, v any, cacheable bool) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	if cacheable {
		h.Set("Cache-Control", "max-age=86400, private")
	} else {
		h.Set("Cache-Control", "no-store, no-cache")
		h.Set("Pragma", "no-cache")
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// oidcDoc is the OIDC discovery document (entra-protocol.md §1.4).
type oidcDoc struct {
	TokenEndpoint                     string   `json:"token_endpoint"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	Issuer                            string   `json:"issuer"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	DeviceAuthorizationEndpoint       string   `json:"device_authorization_endpoint,omitempty"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	HTTPLogoutSupported               bool     `json:"http_logout_supported"`
	FrontchannelLogoutSupported       bool     `json:"frontchannel_logout_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	TenantRegionScope                 string   `json:"tenant_region_scope"`
	CloudInstanceName                 string   `json:"cloud_instance_name"`
}

func (a *Authority) openIDConfig(w http.ResponseWriter, r *http.Request, rc *reqCtx, seg string, v1 bool) {
	if !requireGET(w, r, rc) {
		return
	}
	tid := "{tenantid}"
	pathTenant := seg
	if !isMultiTenant(seg) {
		t := a.current().dir.Tenant(seg)
		if t == nil {
			writeError(w, rc, tenantNotFound(seg))
			return
		}
		tid, pathTenant = t.ID(), t.ID()
	} else {
		pathTenant = strings.ToLower(seg)
	}
	base := "https://" + rc.host + "/" + pathTenant
	doc := oidcDoc{
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		TokenEndpointAuthSigningAlgs:      []string{"RS256", "PS256"},
		ResponseModesSupported:            []string{"query", "fragment", "form_post"},
		SubjectTypesSupported:             []string{"pairwise"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
		ResponseTypesSupported:            []string{"code", "id_token", "code id_token", "id_token token"},
		ScopesSupported:                   []string{"openid", "profile", "email", "offline_access"},
		GrantTypesSupported:               []string{"client_credentials"},
		HTTPLogoutSupported:               true,
		FrontchannelLogoutSupported:       true,
		ClaimsSupported: []string{"sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "roles",
			"azp", "azpacr", "appid", "appidacr", "uti", "ver", "idtyp"},
		TenantRegionScope: "WW",
		CloudInstanceName: "appcred.local",
	}
	if v1 {
		doc.Issuer = "https://sts.windows.net/" + tid + "/"
		doc.TokenEndpoint = base + "/oauth2/token"
		doc.AuthorizationEndpoint = base + "/oauth2/authorize"
		doc.DeviceAuthorizationEndpoint = base + "/oauth2/devicecode"
		doc.EndSessionEndpoint = base + "/oauth2/logout"
		doc.JWKSURI = "https://" + rc.host + "/common/discovery/keys"
	} else {
		doc.Issuer = "https://" + rc.host + "/" + tid + "/v2.0"
		doc.TokenEndpoint = base + "/oauth2/v2.0/token"
		doc.AuthorizationEndpoint = base + "/oauth2/v2.0/authorize"
		doc.DeviceAuthorizationEndpoint = base + "/oauth2/v2.0/devicecode"
		doc.EndSessionEndpoint = base + "/oauth2/v2.0/logout"
		doc.JWKSURI = base + "/discovery/v2.0/keys"
	}
	writeJSON(w, http.StatusOK, doc, true)
}

// jwksCacheControl lets resource servers cache the JWKS for 5 minutes only:
// "keys rotate" makes the new key sign at once, so a resource server that
// honours the header sees the new key within 5 minutes (most libraries also
// refetch the JWKS on an unknown kid). Discovery documents do not change on
// rotation and keep a day.
const jwksCacheControl = "max-age=300, private"

func (a *Authority) keys(w http.ResponseWriter, r *http.Request, rc *reqCtx, seg string, v1 bool) {
	if !requireGET(w, r, rc) {
		return
	}
	snap := a.current()
	issuer := "https://" + rc.host + "/{tenantid}/v2.0"
	if !isMultiTenant(seg) {
		t := snap.dir.Tenant(seg)
		if t == nil {
			writeError(w, rc, tenantNotFound(seg))
			return
		}
		issuer = "https://" + rc.host + "/" + t.ID() + "/v2.0"
	}
	if v1 {
		issuer = ""
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", jwksCacheControl)
	_, _ = w.Write(snap.keys.JWKS(issuer))
}

// instanceDiscovery answers /common/discovery/instance in the api-version 1.0
// shape (tenant_discovery_endpoint only) or 1.1 (with metadata and aliases).
func (a *Authority) instanceDiscovery(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !requireGET(w, r, rc) {
		return
	}
	q := r.URL.Query()
	tenant := "{tenant}"
	aliases := []string{rc.host}
	if ae := q.Get("authorization_endpoint"); ae != "" {
		u, err := url.Parse(ae)
		if err != nil || u.Scheme != "https" || !a.knownHost(u.Host) {
			writeError(w, rc, newErr(http.StatusBadRequest, "invalid_instance", codeUnknownInstance,
				"Unknown or invalid instance."))
			return
		}
		if seg, _, _ := strings.Cut(strings.TrimPrefix(u.EscapedPath(), "/"), "/"); seg != "" {
			var ok bool
			if tenant, ok = a.discoveryTenant(seg); !ok {
				writeError(w, rc, newErr(http.StatusBadRequest, "invalid_request", codeTenantNotFound,
					"The tenant in authorization_endpoint was not found in this authority's directory."))
				return
			}
		}
		if h := canonicalHost(u.Host); h != rc.host {
			aliases = append(aliases, h)
		}
	}
	out := map[string]any{
		"tenant_discovery_endpoint": "https://" + rc.host + "/" + tenant + "/v2.0/.well-known/openid-configuration",
	}
	if q.Get("api-version") != "1.0" {
		out["api-version"] = "1.1"
		out["metadata"] = []map[string]any{{
			"preferred_network": rc.host,
			"preferred_cache":   rc.host,
			"aliases":           aliases,
		}}
	}
	writeJSON(w, http.StatusOK, out, true)
}

// knownHost reports whether hostport (its port is not checked: MSAL Python
// leaves it out) names this authority (see hostPolicy).
func (a *Authority) knownHost(hostport string) bool {
	return a.hosts.Load().nameAllowed(hostOnly(hostport))
}

// ownHost is the host and port of URL(), for error bodies when the request's
// Host cannot be used.
func (a *Authority) ownHost() string {
	if h := strings.TrimPrefix(a.URL(), "https://"); h != "" {
		return h
	}
	return "localhost"
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}
