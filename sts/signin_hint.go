package sts

import (
	"encoding/hex"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/aadsts"
	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts/directory"
	"github.com/appcred/appcred/sts/signin"
)

// hint names the fix for the request's error, from what the directory
// knows: t is the tenant (nil when none matched) and app the client (nil
// when not registered).
func (p *pendingSignin) hint(t *directory.TenantIndex, app *directory.App) string {
	code := p.err.Code()
	switch {
	case code == aadsts.TenantNotFound && p.snap != nil:
		return signin.TenantNotFound(p.seg, p.snap.dir.TenantIDs())
	case t == nil:
	case code == aadsts.AppNotFound:
		var apps []string
		for _, a := range t.Apps() {
			apps = append(apps, signin.App(a.DisplayName, a.ClientID))
		}
		return signin.AppNotFound(p.rec.ClientID, t.ID(), apps)
	case code == aadsts.ResourceNotFound:
		return signin.ResourceNotFound(p.requestedResource(), t.ID(), knownResources(t))
	case app == nil:
	case code == aadsts.InvalidClientSecret:
		hints := make([]string, 0, len(app.Secrets))
		for _, s := range app.Secrets {
			hints = append(hints, s.Hint)
		}
		return signin.SecretMismatch(p.rec.Auth.SecretHint, signin.App(app.DisplayName, app.ClientID), hints)
	case code == aadsts.ClientSecretExpired:
		var when []time.Time
		for _, s := range app.Secrets {
			if s.Expired(p.rec.Time) && (p.rec.Auth.SecretHint == "" || s.Hint == p.rec.Auth.SecretHint) {
				when = append(when, s.Expires)
			}
		}
		return signin.SecretExpired(p.rec.Auth.SecretHint, signin.App(app.DisplayName, app.ClientID), when)
	case code == aadsts.AssertionSignatureInvalid && p.rec.Auth.Thumbprint != "":
		return certHint(t, app, p.rec.Auth)
	case code == aadsts.AssertionAudienceMismatch && p.req != nil:
		claims := jwt.MapClaims{}
		_, _, _ = jwt.NewParser().ParseUnverified(p.req.assertion, claims)
		aud, _ := singleAudience(claims["aud"])
		return signin.AudienceMismatch(clip(aud), "https://"+p.host+"/"+t.ID()+"/oauth2/v2.0/token")
	}
	return signin.Fixed(code)
}

// requestedResource is the resource the request named (v1 resource or the scope's).
func (p *pendingSignin) requestedResource() string {
	if p.rec.Endpoint == "v1" && p.rec.Resource != "" {
		return strings.TrimSpace(p.rec.Resource)
	}
	for _, s := range strings.Fields(p.rec.Scope) {
		if r, ok := trimDefault(s); ok && r != "" {
			return r
		}
	}
	return p.rec.Scope
}

// knownResources are the identifier URIs of the tenant's apps (or their
// client ids, for apps without one).
func knownResources(t *directory.TenantIndex) []string {
	var out []string
	for _, a := range t.Apps() {
		if len(a.IdentifierURIs) == 0 {
			out = append(out, a.ClientID)
		}
		out = append(out, a.IdentifierURIs...)
	}
	return out
}

// certHint explains a certificate the assertion names: not registered on the
// app (listing those that are, in the same hash), or outside its validity.
func certHint(t *directory.TenantIndex, app *directory.App, au signin.Auth) string {
	b, err := hex.DecodeString(au.Thumbprint)
	if err != nil {
		return signin.Fixed(aadsts.AssertionSignatureInvalid)
	}
	var found *directory.CertKey
	switch len(b) {
	case 20:
		found = t.CertBySHA1(app, [20]byte(b))
	case 32:
		found = t.CertBySHA256(app, [32]byte(b))
	}
	name := signin.App(app.DisplayName, app.ClientID)
	if found != nil {
		return signin.CertificateNotValid(au.Thumbprint, name, found.NotBefore, found.NotAfter)
	}
	var registered []string
	for _, c := range app.Certificates {
		if au.ThumbprintAlg == "SHA-1" {
			registered = append(registered, c.Thumbprint)
		} else if s, err := proof.DecodeThumbprint(c.X5TS256); err == nil {
			registered = append(registered, strings.ToUpper(hex.EncodeToString(s)))
		}
	}
	return signin.ThumbprintNotRegistered(au.Thumbprint, au.ThumbprintAlg, name, registered)
}
