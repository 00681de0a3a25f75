package directory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Tenant is a tenant and its app registrations, as kept in directory.json,
// declared in a Config and returned by List.
type Tenant struct {
	// ID is the tenant id, a GUID.
	ID string `json:"id"`
	// Domains are other names the tenant can be addressed by (first path segment).
	Domains []string `json:"domains,omitempty"`
	// Apps are the tenant's app registrations.
	Apps []*App `json:"apps"`
	// Users are the tenant's users (see User), for delegated tokens.
	Users []*User `json:"users,omitempty"`
}

// App is an app registration: the one shape an app has in directory.json, in
// a Config, as the argument of AddApp and in the results of AddApp and List.
type App struct {
	// ClientID is the application (client) id; empty in AddApp means a new random GUID.
	ClientID string `json:"client_id"`
	// ObjectID is the object id of the app's service principal (the "oid" and
	// "sub" of its tokens). The directory derives it from the tenant and
	// client id; a value given to AddApp or in a Config is ignored.
	ObjectID string `json:"object_id"`
	// DisplayName is a human name for the app.
	DisplayName string `json:"display_name,omitempty"`
	// IdentifierURIs are the app's application ID URIs, such as "api://orders",
	// by which clients ask for tokens for it ("api://orders/.default").
	IdentifierURIs []string `json:"identifier_uris,omitempty"`
	// AppRoles are the application permissions the app exposes as a resource.
	AppRoles []string `json:"app_roles,omitempty"`
	// AccessTokenVersion is the version of the tokens issued for this app as a
	// resource: 1 (the default, as in Entra; 0 means 1) or 2.
	AccessTokenVersion int `json:"access_token_version,omitempty"`
	// APIPermissions are the app roles granted to this app, by resource
	// (identifier URI or client id); they appear in its tokens as "roles".
	APIPermissions map[string][]string `json:"api_permissions,omitempty"`
	// OptionalClaims are the optional claims the app, as a resource, wants in
	// its access tokens (the manifest's optionalClaims.accessToken). Supported:
	// "xms_cc", the client capabilities ("cp1") a client declares in its claims
	// request; without the opt-in they are not put in tokens, as in Entra.
	OptionalClaims []string `json:"optional_claims,omitempty"`
	// Scopes are the delegated permissions the app exposes as an API (Entra's
	// oauth2PermissionScopes), such as "Orders.Read" or "access_as_user".
	Scopes []string `json:"scopes,omitempty"`
	// DelegatedPermissions are the delegated scopes the app is consented to
	// (admin consent), by API (identifier URI or client id); they appear as
	// "scp" in user tokens it gets for that API.
	DelegatedPermissions map[string][]string `json:"delegated_permissions,omitempty"`
	// SignInAudience is who may use the app: "AzureADMyOrg" (empty means
	// it: only its own tenant) or "AzureADMultipleOrgs" (any tenant of the
	// directory that consents to it: see Provision).
	SignInAudience string `json:"sign_in_audience,omitempty"`
	// HomeTenant, when set, makes this entry the service principal of a
	// multi-tenant app registered in that tenant (its id): the app was
	// consented to (Provision) in this tenant. It has its own object id and
	// grants here; everything else, credentials included, is the home app's.
	HomeTenant string `json:"home_tenant,omitempty"`
	// PublicClient marks an app without credentials (a desktop or CLI app):
	// it may use the password and refresh-token grants without a secret.
	PublicClient bool `json:"public_client,omitempty"`
	// RequireMFA makes the app, as an API, require multi-factor
	// authentication for delegated access (Entra models it as a conditional
	// access policy): a user token for it is issued only when the user's
	// sign-in included MFA, else the request gets interaction_required
	// AADSTS50079 with a claims challenge naming MFAPolicyID.
	RequireMFA bool `json:"require_mfa,omitempty"`
	// Secrets are the app's client secrets.
	Secrets []Secret `json:"secrets,omitempty"`
	// Certificates are the certificates whose keys may sign the app's client assertions.
	Certificates []Certificate `json:"certificates,omitempty"`
	// Source is "config" for an app a Config declared: a later Config that
	// declares its tenant but no longer the app removes it. The directory sets
	// it; a value given to AddApp or in a Config is ignored.
	Source string `json:"source,omitempty"`
}

// TokenVersion is the access token version for this app as a resource: 1 or 2.
func (a *App) TokenVersion() int { return max(a.AccessTokenVersion, 1) }

// MFAPolicyID is the id of the app's require_mfa policy, the value of the
// "polids" claims challenge: a GUID derived from its object id, stable
// across restarts and different per app and tenant.
func (a *App) MFAPolicyID() string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("appcred:mfa-policy:"+strings.ToLower(a.ObjectID))).String()
}

// HasOptionalClaim reports whether the app, as a resource, opted in to the
// optional claim name (lower case, such as OptionalClaimXmsCC).
func (a *App) HasOptionalClaim(name string) bool { return slices.Contains(a.OptionalClaims, name) }

// view is the app as admin results show it: secrets by id and hint only,
// certificates by thumbprints, oldest expiry first.
func (a *App) view() App {
	v := *a
	v.AccessTokenVersion = a.TokenVersion()
	v.Secrets = nil
	for _, s := range a.Secrets {
		v.Secrets = append(v.Secrets, s.view())
	}
	v.Certificates = nil
	for _, c := range a.Certificates {
		v.Certificates = append(v.Certificates, c.view())
	}
	sort.Slice(v.Certificates, func(i, j int) bool { return v.Certificates[i].NotAfter.Before(v.Certificates[j].NotAfter) })
	return v
}

// Secret is a client secret. At rest it is a random salt and SHA-256(salt ||
// secret): secrets are long random strings, so a fast hash is enough and
// keeps the token endpoint fast; the value itself is never stored. Value is
// set only in the result of AddSecret, the one time the secret is shown, and
// in a Config, where a secret is written as its value alone.
type Secret struct {
	// ID identifies the secret.
	ID string `json:"id,omitempty"`
	// Hint is the secret's first three characters.
	Hint string `json:"hint,omitempty"`
	// Salt is the base64 salt of the stored hash (at rest only).
	Salt string `json:"salt,omitempty"`
	// Hash is the base64 SHA-256(salt || secret) (at rest only).
	Hash string `json:"hash,omitempty"`
	// Created is when the secret was added.
	Created time.Time `json:"created,omitzero"`
	// Expires is when the secret stops working (zero: never). The token
	// endpoint answers an expired secret with AADSTS7000222.
	Expires time.Time `json:"expires,omitzero"`
	// Value is the secret itself: only in AddSecret's result and in a Config.
	Value string `json:"secret,omitempty"`
}

// view is the secret as admin results show it: no salt, hash or value.
func (s Secret) view() Secret {
	return Secret{ID: s.ID, Hint: s.Hint, Created: s.Created, Expires: s.Expires}
}

// Expired reports whether the secret has an expiry time and now is past it.
func (s Secret) Expired(now time.Time) bool { return expiredAt(s.Expires, now) }

// expiredAt reports whether an expiry time (zero: never) has come at now.
func expiredAt(expires, now time.Time) bool { return !expires.IsZero() && !now.Before(expires) }

// UnmarshalJSON reads a secret as an object or, as a Config writes it, as its
// value alone (a JSON string).
func (s *Secret) UnmarshalJSON(data []byte) error {
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '"' {
		*s = Secret{}
		return json.Unmarshal(t, &s.Value)
	}
	type plain Secret
	return strictJSON(data, (*plain)(s))
}

// String never shows the secret value.
func (s Secret) String() string { return "secret " + s.ID + " (" + s.Hint + "…)" }

// GoString (the %#v verb) never shows the secret value: it is replaced by
// "[REDACTED]" when set.
func (s Secret) GoString() string {
	v := `""`
	if s.Value != "" {
		v = `"[REDACTED]"`
	}
	return fmt.Sprintf("directory.Secret{ID:%q, Hint:%q, Created:%s, Expires:%s, Value:%s}", s.ID, s.Hint,
		s.Created.Format(time.RFC3339Nano), s.Expires.Format(time.RFC3339Nano), v)
}

// LogValue makes log/slog record the id, hint, creation and expiry times,
// never the secret value.
func (s Secret) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("id", s.ID), slog.String("hint", s.Hint), slog.Time("created", s.Created)}
	if !s.Expires.IsZero() {
		attrs = append(attrs, slog.Time("expires", s.Expires))
	}
	return slog.GroupValue(attrs...)
}

// Certificate is a certificate registered on an app, described by its
// thumbprints; directory.json also keeps its PEM. In a Config a certificate is
// written as a PEM file name (relative to the config file) or as PEM text.
type Certificate struct {
	// Thumbprint is the SHA-1 thumbprint in upper-case hex, as the Azure portal shows it.
	Thumbprint string `json:"thumbprint"`
	// X5T is the base64url SHA-1 thumbprint (JWS "x5t").
	X5T string `json:"x5t"`
	// X5TS256 is the base64url SHA-256 thumbprint (JWS "x5t#S256").
	X5TS256 string `json:"x5t_s256"`
	// Subject is the certificate's subject name.
	Subject string `json:"subject"`
	// NotAfter is the end of the certificate's validity.
	NotAfter time.Time `json:"not_after"`
	// Added is when the certificate was registered (at rest only).
	Added time.Time `json:"added,omitzero"`
	// PEM is the certificate (at rest, or inline in a Config).
	PEM string `json:"pem,omitempty"`
	// File is a PEM file to read the certificate from (in a Config only; never stored).
	File string `json:"-"`
}

// UnmarshalJSON reads a certificate as an object or, as a Config writes it,
// as a string: PEM text, or else a file name.
func (c *Certificate) UnmarshalJSON(data []byte) error {
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '"' {
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return err
		}
		*c = Certificate{}
		if strings.Contains(s, "-----BEGIN") {
			c.PEM = s
		} else {
			c.File = s
		}
		return nil
	}
	type plain Certificate
	return strictJSON(data, (*plain)(c))
}

// view is the certificate as admin results show it: thumbprints, subject and expiry.
func (c Certificate) view() Certificate {
	return Certificate{Thumbprint: c.Thumbprint, X5T: c.X5T, X5TS256: c.X5TS256, Subject: c.Subject, NotAfter: c.NotAfter}
}

// strictJSON decodes data into v, refusing unknown fields as LoadConfig does.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
