package sts

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/appcred/appcred/sts/directory"
	"github.com/appcred/appcred/sts/pki"
)

// userMint is what a delegated (user) token response is made of.
type userMint struct {
	host   string
	tenant *directory.TenantIndex
	client *directory.App // the calling app
	user   *directory.User
	grant  *delegatedGrant
	acr    string // "0" public client, "1" secret, "2" certificate
	mfa    bool   // the sign-in included (simulated) multi-factor authentication
	now    time.Time
}

// claimsUserV2 are the claims of a v2 delegated access token (entra-protocol.md §6.3).
type claimsUserV2 struct {
	stdClaims
	// Amr is set only after MFA: Entra's v2 access tokens have no amr
	// (entra-protocol.md §6.1); this authority adds it so that an
	// on-behalf-of request can tell an assertion from an MFA sign-in.
	Amr               []string `json:"amr,omitempty"`
	Azp               string   `json:"azp"`
	Azpacr            string   `json:"azpacr"`
	Name              string   `json:"name,omitempty"`
	Oid               string   `json:"oid"`
	PreferredUsername string   `json:"preferred_username"`
	Scp               string   `json:"scp"`
	Sub               string   `json:"sub"`
	Tid               string   `json:"tid"`
	Uti               string   `json:"uti"`
	Ver               string   `json:"ver"`
}

// claimsUserV1 are the claims of a v1 delegated access token.
type claimsUserV1 struct {
	stdClaims
	Acr        string   `json:"acr"`
	Amr        []string `json:"amr"`
	Appid      string   `json:"appid"`
	Appidacr   string   `json:"appidacr"`
	Name       string   `json:"name,omitempty"`
	Oid        string   `json:"oid"`
	Scp        string   `json:"scp"`
	Sub        string   `json:"sub"`
	Tid        string   `json:"tid"`
	UniqueName string   `json:"unique_name"`
	Upn        string   `json:"upn"`
	Uti        string   `json:"uti"`
	Ver        string   `json:"ver"`
}

// claimsID are the claims of a v2 id_token for the calling app.
type claimsID struct {
	stdClaims
	Name              string `json:"name,omitempty"`
	Oid               string `json:"oid"`
	PreferredUsername string `json:"preferred_username"`
	Sub               string `json:"sub"`
	Tid               string `json:"tid"`
	Ver               string `json:"ver"`
}

// tokenResponse is a signed token response, before encoding; app-only
// responses fill in the access token and resource only.
type tokenResponse struct {
	accessToken, refreshToken, idToken, clientInfo, scope, resource string
	now                                                             time.Time
}

// pairwiseSub is the "sub" of a user's tokens for an app: stable per user,
// app and tenant, and different across apps, as in Entra.
func pairwiseSub(tid, oid, clientID string) string {
	sum := sha256.Sum256([]byte("appcred:sub:" + tid + ":" + strings.ToLower(oid) + ":" + strings.ToLower(clientID)))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// mintUserResponse signs the access token (and id_token) and issues the
// refresh token that p asks for.
func (a *Authority) mintUserResponse(key *pki.SigningKey, p userMint) (*tokenResponse, error) {
	uti, err := newUTI()
	if err != nil {
		return nil, err
	}
	tid, u, g := p.tenant.ID(), p.user, p.grant
	iat, exp := p.now.Unix(), p.now.Add(a.lifetime).Unix()
	std := func(aud, iss string) stdClaims { return stdClaims{Aud: aud, Iss: iss, Iat: iat, Nbf: iat, Exp: exp} }
	sub := pairwiseSub(tid, u.ObjectID, p.client.ClientID)
	issV2 := "https://" + p.host + "/" + tid + "/v2.0"
	scp := strings.Join(g.scp, " ")
	var payload []byte
	header := key.HeaderV2
	if g.resource.TokenVersion() == 2 {
		var amr []string
		if p.mfa {
			amr = amrOf(true)
		}
		payload, err = json.Marshal(claimsUserV2{stdClaims: std(g.resource.ClientID, issV2), Amr: amr,
			Azp: p.client.ClientID, Azpacr: p.acr, Name: u.DisplayName, Oid: u.ObjectID, PreferredUsername: u.UPN,
			Scp: scp, Sub: sub, Tid: tid, Uti: uti, Ver: "2.0"})
	} else {
		header = key.HeaderV1
		payload, err = json.Marshal(claimsUserV1{stdClaims: std(g.requested, "https://sts.windows.net/"+tid+"/"),
			Acr: "1", Amr: amrOf(p.mfa), Appid: p.client.ClientID, Appidacr: p.acr,
			Name: u.DisplayName, Oid: u.ObjectID, Scp: scp, Sub: sub, Tid: tid, UniqueName: u.UPN, Upn: u.UPN,
			Uti: uti, Ver: "1.0"})
	}
	if err != nil {
		return nil, err
	}
	out := &tokenResponse{scope: g.responseScope(), resource: g.requested, now: p.now}
	if out.accessToken, err = signJWT(key, header, payload); err != nil {
		return nil, err
	}
	if g.asked("openid") || g.asked("profile") {
		idp, _ := json.Marshal(claimsID{stdClaims: std(p.client.ClientID, issV2),
			Name: u.DisplayName, Oid: u.ObjectID, PreferredUsername: u.UPN, Sub: sub, Tid: tid, Ver: "2.0"})
		if out.idToken, err = signJWT(key, key.HeaderV2, idp); err != nil {
			return nil, err
		}
		ci, _ := json.Marshal(struct {
			UID  string `json:"uid"`
			UTID string `json:"utid"`
		}{u.ObjectID, tid})
		out.clientInfo = base64.RawURLEncoding.EncodeToString(ci)
	}
	if g.asked("offline_access") {
		rec := refreshRecord{tenant: tid, client: p.client.ClientID, oid: u.ObjectID, resource: g.requested, scp: g.scp, mfa: p.mfa}
		if out.refreshToken, err = a.refresh.issue(rec, p.now); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// writeTokenResponse answers with a token response (entra-protocol.md §4.2,
// §5.1): v2 with integer lifetimes, v1 with strings plus expires_on,
// not_before and resource; scope, refresh_token, id_token and client_info
// only when set.
func (a *Authority) writeTokenResponse(w http.ResponseWriter, r *tokenResponse, v1 bool) {
	secs := int64(a.lifetime / time.Second)
	var b []byte
	if v1 {
		s := strconv.FormatInt(secs, 10)
		b, _ = json.Marshal(struct {
			TokenType    string `json:"token_type"`
			Scope        string `json:"scope,omitempty"`
			ExpiresIn    string `json:"expires_in"`
			ExtExpiresIn string `json:"ext_expires_in"`
			ExpiresOn    string `json:"expires_on"`
			NotBefore    string `json:"not_before"`
			Resource     string `json:"resource"`
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token,omitempty"`
			IDToken      string `json:"id_token,omitempty"`
			ClientInfo   string `json:"client_info,omitempty"`
		}{"Bearer", r.scope, s, s, strconv.FormatInt(r.now.Unix()+secs, 10), strconv.FormatInt(r.now.Unix(), 10),
			r.resource, r.accessToken, r.refreshToken, r.idToken, r.clientInfo})
	} else {
		b, _ = json.Marshal(struct {
			TokenType    string `json:"token_type"`
			Scope        string `json:"scope,omitempty"`
			ExpiresIn    int64  `json:"expires_in"`
			ExtExpiresIn int64  `json:"ext_expires_in"`
			RefreshIn    int64  `json:"refresh_in,omitempty"`
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token,omitempty"`
			IDToken      string `json:"id_token,omitempty"`
			ClientInfo   string `json:"client_info,omitempty"`
		}{"Bearer", r.scope, secs, secs, int64(a.opts.RefreshIn / time.Second), r.accessToken, r.refreshToken,
			r.idToken, r.clientInfo})
	}
	writeTokenBody(w, b)
}
