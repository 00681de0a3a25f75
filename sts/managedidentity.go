package sts

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/appcred/appcred/sts/directory"
	"github.com/appcred/appcred/sts/intercept"
)

// Managed identity endpoint (App Service protocol, entra-protocol.md §13).
const (
	// ManagedIdentityPath is the endpoint's path, as in App Service.
	ManagedIdentityPath = "/msi/token"
	// ManagedIdentityAPIVersion is the one api-version the endpoint answers.
	ManagedIdentityAPIVersion = "2019-08-01"
	// IdentityHeader is the request header that must carry IDENTITY_HEADER's value.
	IdentityHeader = "X-Identity-Header"
)

// managedIdentity is the running managed-identity endpoint.
type managedIdentity struct {
	url    string     // IDENTITY_ENDPOINT
	header string     // IDENTITY_HEADER, random per start
	sum    [32]byte   // SHA-256 of header, compared in constant time
	ids    []miAppRef // the identities; the first is the system-assigned one
	a      *Authority // mints the tokens
	now    func() time.Time
}

// miAppRef is one identity: an app registration in a tenant.
type miAppRef struct{ tenant, clientID string }

// StartManagedIdentity serves the App Service managed-identity protocol on
// addr (loopback only; "127.0.0.1:0" picks a port) over plain HTTP, as App
// Service does, for the apps named by ids ("CLIENT_ID" when the client id is
// registered in one tenant only, or "TENANT/CLIENT_ID"): the first is the
// system-assigned identity, the others are user-assigned ones that a request
// picks by client_id, object_id / principal_id (the app's service principal
// object id) or mi_res_id (whose last segment is the app's client id or
// display name). Tokens are the app's app-only tokens (appidacr/azpacr 2)
// from its tenant. ManagedIdentityEnv then gives the two variables to set.
func (a *Authority) StartManagedIdentity(addr string, ids []string) error {
	if len(ids) == 0 {
		return errors.New("managed identity: no app given")
	}
	refs, err := a.resolveIdentities(ids)
	if err != nil {
		return err
	}
	var secret [24]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return err
	}
	ln, err := intercept.Listen(addr)
	if err != nil {
		return fmt.Errorf("managed identity endpoint: %w", err)
	}
	mi := &managedIdentity{url: "http://" + ln.Addr().String() + ManagedIdentityPath,
		header: base64.RawURLEncoding.EncodeToString(secret[:]), ids: refs, a: a, now: time.Now}
	mi.sum = sha256.Sum256([]byte(mi.header))
	srv := &http.Server{Handler: mi, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	a.mu.Lock()
	if a.closed || a.mi != nil {
		a.mu.Unlock()
		_ = ln.Close()
		return errors.New("managed identity: the authority is closed or already serves the endpoint")
	}
	a.mi = mi
	a.servers = append(a.servers, srv)
	a.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("managed identity endpoint stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return nil
}

// resolveIdentities finds the tenant of each "CLIENT_ID" or "TENANT/CLIENT_ID".
func (a *Authority) resolveIdentities(ids []string) ([]miAppRef, error) {
	tenants, err := a.List()
	if err != nil {
		return nil, err
	}
	var refs []miAppRef
	for _, id := range ids {
		tenant, clientID, scoped := strings.Cut(strings.TrimSpace(id), "/")
		if !scoped {
			tenant, clientID = "", tenant
		}
		var found []miAppRef
		for _, t := range tenants {
			if tenant != "" && !strings.EqualFold(t.ID, tenant) && !containsFold(t.Domains, tenant) {
				continue
			}
			for _, app := range t.Apps {
				// Unqualified, a multi-tenant app is its home registration, not where it was consented to.
				if strings.EqualFold(app.ClientID, clientID) && (tenant != "" || app.HomeTenant == "") {
					found = append(found, miAppRef{tenant: t.ID, clientID: app.ClientID})
				}
			}
		}
		switch len(found) {
		case 0:
			return nil, fmt.Errorf("managed identity %q: no such app in the directory", id)
		case 1:
			refs = append(refs, found[0])
		default:
			return nil, fmt.Errorf("managed identity %q: the app is in %d tenants; write TENANT/CLIENT_ID", id, len(found))
		}
	}
	return refs, nil
}

// ManagedIdentityEnv returns IDENTITY_ENDPOINT and IDENTITY_HEADER for apps
// using a managed identity credential, or nil when the endpoint is not served.
func (a *Authority) ManagedIdentityEnv() []intercept.Var {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mi == nil {
		return nil
	}
	return []intercept.Var{{Name: "IDENTITY_ENDPOINT", Value: a.mi.url}, {Name: "IDENTITY_HEADER", Value: a.mi.header}}
}

// ManagedIdentities lists the managed-identity endpoint's identities as
// TENANT/CLIENT_ID, the system-assigned one first, or nil when it is not served.
func (a *Authority) ManagedIdentities() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mi == nil {
		return nil
	}
	out := make([]string, 0, len(a.mi.ids))
	for _, r := range a.mi.ids {
		out = append(out, r.tenant+"/"+r.clientID)
	}
	return out
}

// miError is App Service's error shape.
type miError struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
}

// ServeHTTP answers one managed-identity token request.
func (mi *managedIdentity) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, format string, args ...any) {
		writeJSON(w, status, miError{StatusCode: status, Message: fmt.Sprintf(format, args...)}, false)
	}
	if r.URL.Path != ManagedIdentityPath {
		fail(http.StatusNotFound, "Not found: use %s.", ManagedIdentityPath)
		return
	}
	if r.Method != http.MethodGet {
		fail(http.StatusMethodNotAllowed, "Only GET is supported.")
		return
	}
	got, ok := r.Header[http.CanonicalHeaderKey(IdentityHeader)]
	if !ok || len(got) != 1 || got[0] == "" {
		fail(http.StatusBadRequest, "The %s header is missing.", IdentityHeader)
		return
	}
	if sum := sha256.Sum256([]byte(got[0])); subtle.ConstantTimeCompare(sum[:], mi.sum[:]) != 1 {
		fail(http.StatusUnauthorized, "The %s header is not valid.", IdentityHeader)
		return
	}
	q := r.URL.Query()
	if v := q.Get("api-version"); v != ManagedIdentityAPIVersion {
		fail(http.StatusBadRequest, "api-version %q is not supported; use %s.", clip(v), ManagedIdentityAPIVersion)
		return
	}
	resource := strings.TrimSpace(q.Get("resource"))
	if resource == "" {
		fail(http.StatusBadRequest, "The resource parameter is required.")
		return
	}
	body, status, msg := mi.token(q, resource)
	if msg != "" {
		fail(status, "%s", msg)
		return
	}
	writeJSON(w, http.StatusOK, body, false)
}

// miToken is the App Service token response.
type miToken struct {
	AccessToken string `json:"access_token"`
	ExpiresOn   string `json:"expires_on"`
	Resource    string `json:"resource"`
	TokenType   string `json:"token_type"`
	ClientID    string `json:"client_id"`
}

// token mints the chosen identity's token for resource, or returns the
// status and message to answer with.
func (mi *managedIdentity) token(q url.Values, resource string) (*miToken, int, string) {
	snap := mi.a.current()
	ref, t, app, msg := mi.pick(snap.dir, q)
	if msg != "" {
		return nil, http.StatusBadRequest, msg
	}
	res := t.Resource(resource)
	if res == nil {
		return nil, http.StatusBadRequest, resourceNotFound(resource, t.ID()).Error()
	}
	requested := registeredResource(res, resource)
	now := mi.now()
	host := strings.TrimPrefix(mi.a.URL(), "https://")
	tok, err := mi.a.mint(snap.keys.Current(), mintParams{host: host, tenant: t, client: app, resource: res,
		requested: requested, acr: "2", now: now})
	if err != nil {
		mi.a.log.Error("managed identity: signing a token", "err", err)
		return nil, http.StatusInternalServerError, "The local authority could not sign the token."
	}
	exp := now.Add(mi.a.lifetime).Unix()
	return &miToken{AccessToken: tok, ExpiresOn: strconv.FormatInt(exp, 10), Resource: requested,
		TokenType: "Bearer", ClientID: ref.clientID}, 0, ""
}

// pick finds the identity a request names (none: the system-assigned one).
func (mi *managedIdentity) pick(ix *directory.Index, q url.Values) (miAppRef, *directory.TenantIndex, *directory.App, string) {
	var name, value string
	for _, p := range []string{"client_id", "object_id", "principal_id", "mi_res_id"} {
		if v := q.Get(p); v != "" {
			if name != "" {
				return miAppRef{}, nil, nil, "Give only one of client_id, object_id, principal_id and mi_res_id."
			}
			name, value = p, v
		}
	}
	for i, ref := range mi.ids {
		t := ix.Tenant(ref.tenant)
		var app *directory.App
		if t != nil {
			app = t.App(ref.clientID)
		}
		if app == nil {
			continue
		}
		match := false
		switch name {
		case "":
			match = i == 0
		case "client_id":
			match = strings.EqualFold(value, app.ClientID)
		case "object_id", "principal_id":
			match = strings.EqualFold(value, app.ObjectID)
		case "mi_res_id":
			last := path.Base(value)
			match = strings.EqualFold(last, app.ClientID) || (app.DisplayName != "" && strings.EqualFold(last, app.DisplayName))
		}
		if match {
			return ref, t, app, ""
		}
	}
	if name == "" {
		return miAppRef{}, nil, nil, "No managed identity found: the system-assigned identity's app is no longer in the directory."
	}
	return miAppRef{}, nil, nil, fmt.Sprintf("No managed identity found for %s %q.", name, clip(value))
}
