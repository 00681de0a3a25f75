// Package arm is just enough Azure Resource Manager for the Azure CLI and
// SDKs to sign in offline: GET /subscriptions, /subscriptions/{id},
// /tenants and /metadata/endpoints, in ARM's JSON shapes, with any
// api-version. Every call but the cloud metadata (public in ARM too) needs
// a bearer token for the Resource Manager audience, checked by an injected
// verifier; failures get ARM's error shape and WWW-Authenticate challenge.
// Nothing else of ARM is served: other paths get 404 in ARM's shape.
package arm

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
)

// Subscription is one subscription the endpoints list, visible to tokens of
// its tenant.
type Subscription struct {
	ID          string // subscription id (a GUID)
	DisplayName string
	TenantID    string // the tenant (a GUID) whose tokens see it
}

// Tenant holds optional details GET /tenants shows for a tenant.
type Tenant struct {
	ID            string // tenant id (a GUID)
	DisplayName   string
	DefaultDomain string
}

// DefaultAudiences returns the token audiences Resource Manager accepts: every
// cloud's classic management and ARM resource ids (https://management.core.windows.net/,
// https://management.azure.com/ and the national clouds' equivalents), with
// and without the trailing slash.
func DefaultAudiences() []string { return slices.Clone(defaultAudiences()) }

// defaultAudiences are DefaultAudiences, computed on first use.
var defaultAudiences = sync.OnceValue(func() []string {
	var out []string
	for _, c := range clouds() {
		for _, a := range c.Audiences {
			out = append(out, a, strings.TrimSuffix(a, "/"))
		}
	}
	return out
})

// Options configure Handler. Verify is required.
type Options struct {
	// Subscriptions are listed to tokens of their tenant; none answers {"value": []}.
	Subscriptions []Subscription
	// Tenants adds display names and domains to GET /tenants (optional).
	Tenants []Tenant
	// Verify checks a bearer token's signature and lifetime and returns its
	// claims; the local authority's VerifyToken fits. Handler then requires
	// aud to be one of Audiences and tid to be set.
	Verify func(token string) (map[string]any, error)
	// Audiences accepted in aud; nil means DefaultAudiences.
	Audiences []string
	// LoginEndpoint is the login endpoint /metadata/endpoints names when it
	// is asked on a host that is not a Microsoft Resource Manager host (such
	// as the authority's own URL); empty means https://login.microsoftonline.com/.
	LoginEndpoint string
	// Logger receives one record per refused call (never a token); nil means slog.Default().
	Logger *slog.Logger
}

type handler struct {
	o    Options
	subs []Subscription
}

// Handler returns the Resource Manager endpoints, or an error naming the
// first bad subscription or tenant.
func Handler(o Options) (http.Handler, error) {
	if o.Verify == nil {
		return nil, errors.New("arm: Options.Verify is required")
	}
	if o.Audiences == nil {
		o.Audiences = DefaultAudiences()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	subs := make([]Subscription, 0, len(o.Subscriptions))
	for i, s := range o.Subscriptions {
		id, err1 := uuid.Parse(s.ID)
		tid, err2 := uuid.Parse(s.TenantID)
		switch {
		case err1 != nil:
			return nil, fmt.Errorf("arm: subscription %d: id %q is not a GUID", i+1, s.ID)
		case err2 != nil:
			return nil, fmt.Errorf("arm: subscription %s: tenant %q is not a GUID", s.ID, s.TenantID)
		case strings.TrimSpace(s.DisplayName) == "":
			return nil, fmt.Errorf("arm: subscription %s: display name is empty", s.ID)
		}
		if slices.ContainsFunc(subs, func(x Subscription) bool { return x.ID == id.String() }) {
			return nil, fmt.Errorf("arm: subscription %s is listed twice", s.ID)
		}
		subs = append(subs, Subscription{ID: id.String(), DisplayName: s.DisplayName, TenantID: tid.String()})
	}
	for i, t := range o.Tenants {
		if _, err := uuid.Parse(t.ID); err != nil {
			return nil, fmt.Errorf("arm: tenant %d: id %q is not a GUID", i+1, t.ID)
		}
	}
	return &handler{o: o, subs: subs}, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-ms-request-id", uuid.NewString())
	w.Header().Set("x-ms-correlation-request-id", uuid.NewString())
	w.Header().Set("Cache-Control", "no-cache")
	route, id := routeOf(r.URL.Path)
	if route == "" {
		writeError(w, http.StatusNotFound, "NotFound", "The local Resource Manager serves only GET /subscriptions, "+
			"/subscriptions/{subscriptionId}, /tenants and /metadata/endpoints.")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed",
			"The local Resource Manager answers only GET.")
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		writeError(w, http.StatusBadRequest, "MissingApiVersionParameter",
			"The api-version query parameter (?api-version=) is required for all requests.")
		return
	}
	if route == "metadata" {
		h.metadata(w, r)
		return
	}
	tid, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	switch route {
	case "subscriptions":
		out := []any{}
		for _, s := range h.subs {
			if s.TenantID == tid {
				out = append(out, subscriptionJSON(s))
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": out})
	case "subscription":
		if _, err := uuid.Parse(id); err != nil {
			writeError(w, http.StatusBadRequest, "InvalidSubscriptionId",
				"The provided subscription identifier is malformed or invalid.")
			return
		}
		for _, s := range h.subs {
			if s.TenantID == tid && strings.EqualFold(s.ID, id) {
				writeJSON(w, http.StatusOK, subscriptionJSON(s))
				return
			}
		}
		writeError(w, http.StatusNotFound, "SubscriptionNotFound",
			fmt.Sprintf("The subscription '%s' could not be found.", id))
	case "tenants":
		writeJSON(w, http.StatusOK, map[string]any{"value": []any{h.tenantJSON(tid)}})
	}
}

// routeOf names the route of path (ARM paths are case-insensitive; one
// trailing slash is allowed) and the subscription id in it.
func routeOf(path string) (route, id string) {
	p := strings.TrimSuffix(path, "/")
	lower := strings.ToLower(p)
	switch {
	case lower == "/subscriptions":
		return "subscriptions", ""
	case lower == "/tenants":
		return "tenants", ""
	case lower == "/metadata/endpoints":
		return "metadata", ""
	case strings.HasPrefix(lower, "/subscriptions/") && !strings.Contains(p[len("/subscriptions/"):], "/"):
		return "subscription", p[len("/subscriptions/"):]
	}
	return "", ""
}

func subscriptionJSON(s Subscription) map[string]any {
	return map[string]any{
		"id":                  "/subscriptions/" + s.ID,
		"authorizationSource": "RoleBased",
		"managedByTenants":    []any{},
		"subscriptionId":      s.ID,
		"tenantId":            s.TenantID,
		"displayName":         s.DisplayName,
		"state":               "Enabled",
		"subscriptionPolicies": map[string]any{
			"locationPlacementId": "Public_2014-09-01",
			"quotaId":             "PayAsYouGo_2014-09-01",
			"spendingLimit":       "Off",
		},
	}
}

func (h *handler) tenantJSON(tid string) map[string]any {
	t := map[string]any{"id": "/tenants/" + tid, "tenantId": tid, "tenantCategory": "Home"}
	for _, x := range h.o.Tenants {
		if strings.EqualFold(x.ID, tid) {
			if x.DisplayName != "" {
				t["displayName"] = x.DisplayName
			}
			if x.DefaultDomain != "" {
				t["defaultDomain"] = x.DefaultDomain
				t["domains"] = []string{x.DefaultDomain}
			}
		}
	}
	return t
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes ARM's error shape: {"error":{"code":…,"message":…}}.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}
