package sts

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/sts/directory"
	"github.com/appcred/appcred/sts/pki"
)

// mintParams is what an access token is made of.
type mintParams struct {
	host      string // request host, for the v2 issuer
	tenant    *directory.TenantIndex
	client    *directory.App // the calling app
	resource  *directory.App // the resource app
	requested string         // the resource as the client named it (v1 aud)
	acr       string         // "1" secret, "2" certificate
	acrs      []string       // authentication contexts asked for in the claims request
	xmsCC     []string       // client capabilities, when asked for and the resource opted in
	now       time.Time
}

// stdClaims are the audience, issuer and times every token carries.
type stdClaims struct {
	Aud string `json:"aud"`
	Iss string `json:"iss"`
	Iat int64  `json:"iat"`
	Nbf int64  `json:"nbf"`
	Exp int64  `json:"exp"`
}

// claimsV2 are the claims of a v2 app-only access token (entra-protocol.md §6).
type claimsV2 struct {
	stdClaims
	Azp    string   `json:"azp"`
	Azpacr string   `json:"azpacr"`
	Idtyp  string   `json:"idtyp"`
	Oid    string   `json:"oid"`
	Roles  []string `json:"roles,omitempty"`
	Sub    string   `json:"sub"`
	Tid    string   `json:"tid"`
	Uti    string   `json:"uti"`
	Ver    string   `json:"ver"`
	Acrs   []string `json:"acrs,omitempty"`
	XmsCC  []string `json:"xms_cc,omitempty"`
}

// claimsV1 are the claims of a v1 app-only access token.
type claimsV1 struct {
	stdClaims
	Appid    string   `json:"appid"`
	Appidacr string   `json:"appidacr"`
	Idp      string   `json:"idp"`
	Idtyp    string   `json:"idtyp"`
	Oid      string   `json:"oid"`
	Roles    []string `json:"roles,omitempty"`
	Sub      string   `json:"sub"`
	Tid      string   `json:"tid"`
	Uti      string   `json:"uti"`
	Ver      string   `json:"ver"`
	Acrs     []string `json:"acrs,omitempty"`
	XmsCC    []string `json:"xms_cc,omitempty"`
}

// mint signs an access token with key: RS256, "kid" in the header (v1 also
// "x5t"), claims of the version the resource accepts.
func (a *Authority) mint(key *pki.SigningKey, p mintParams) (string, error) {
	uti, err := newUTI()
	if err != nil {
		return "", err
	}
	iat := p.now.Unix()
	exp := p.now.Add(a.lifetime).Unix()
	roles := p.tenant.Roles(p.client, p.resource)
	var payload []byte
	var header string
	if p.resource.TokenVersion() == 2 {
		header = key.HeaderV2
		payload, err = json.Marshal(claimsV2{
			stdClaims: stdClaims{Aud: p.resource.ClientID, Iss: "https://" + p.host + "/" + p.tenant.ID() + "/v2.0",
				Iat: iat, Nbf: iat, Exp: exp},
			Azp: p.client.ClientID, Azpacr: p.acr, Idtyp: "app",
			Oid: p.client.ObjectID, Roles: roles, Sub: p.client.ObjectID, Tid: p.tenant.ID(),
			Uti: uti, Ver: "2.0", Acrs: p.acrs, XmsCC: p.xmsCC,
		})
	} else {
		header = key.HeaderV1
		iss := "https://sts.windows.net/" + p.tenant.ID() + "/"
		payload, err = json.Marshal(claimsV1{
			stdClaims: stdClaims{Aud: p.requested, Iss: iss, Iat: iat, Nbf: iat, Exp: exp},
			Appid:     p.client.ClientID, Appidacr: p.acr, Idp: iss, Idtyp: "app",
			Oid: p.client.ObjectID, Roles: roles, Sub: p.client.ObjectID, Tid: p.tenant.ID(),
			Uti: uti, Ver: "1.0", Acrs: p.acrs, XmsCC: p.xmsCC,
		})
	}
	if err != nil {
		return "", err
	}
	return signJWT(key, header, payload)
}

// signJWT signs payload (JSON claims) under header (base64url JSON) with key, RS256.
func signJWT(key *pki.SigningKey, header string, payload []byte) (string, error) {
	signing := header + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig, err := jwt.SigningMethodRS256.Sign(signing, key.Key)
	if err != nil {
		return "", err
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// newUTI returns a random token id ("uti").
func newUTI() (string, error) {
	var uti [16]byte
	if _, err := rand.Read(uti[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(uti[:]), nil
}

// VerifyToken checks an access token this authority issued: an RS256
// signature by one of its signing keys (the one named by "kid"), and exp/nbf
// with ClockSkew of leeway. It returns the token's claims. It is meant for
// tests and local resource servers; it does not check the audience.
func (a *Authority) VerifyToken(token string) (map[string]any, error) {
	keys := a.current().keys
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(ClockSkew)).
		ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
			kid, _ := t.Header["kid"].(string)
			if k := keys.ByKID(kid); k != nil {
				return &k.Key.PublicKey, nil
			}
			return nil, fmt.Errorf("no signing key with kid %q", kid)
		})
	if err != nil {
		return nil, fmt.Errorf("access token: %w", err)
	}
	return claims, nil
}
