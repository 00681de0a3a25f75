package appcred

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/appcred/appcred/authority"
	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/internal/wire"
	"github.com/appcred/appcred/proof"
)

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// requestToken asks the authority for an app token. Its error is scrubbed of
// the client's own secrets before it goes anywhere (to the caller, or to the
// cache, which logs a failed background refresh).
func (c *Client) requestToken(ctx context.Context, tenant string, scopes []string, claims string) (*cache.Token, error) {
	if tenant == "" {
		tenant = c.info.Tenant
	}
	ctx, rec := c.tel.start(ctx, tenant, grantClientCredentials)
	t, err := c.postTokenRequest(ctx, tenant, scopes, claims, rec)
	if err != nil {
		err = c.secrets.ScrubError(err)
	}
	rec.end(ctx, err)
	return t, err
}

// postTokenRequest resolves the endpoints, adds the proof and posts the
// client-credentials request.
// rec (nil when telemetry is off) counts the attempts.
func (c *Client) postTokenRequest(ctx context.Context, tenant string, scopes []string, claims string, rec *requestSpan) (*cache.Token, error) {
	resp, now, err := c.postGrant(ctx, tenant, scopes, nil, claims, url.Values{"grant_type": {"client_credentials"}}, rec)
	if err != nil {
		return nil, err
	}
	t := tokenOf(resp, now)
	c.log.Debug("appcred: token acquired from authority", "tenant", cmp.Or(tenant, c.info.Tenant), "token", t)
	return t, nil
}

// postGrant posts one token request of any grant: fields (the grant's own
// form values) plus the client id, the scopes and extraScopes (or, with
// WithV1Resource, the resource of scopes), the claims merged with the
// client's capabilities, and the proof. It resolves the endpoints first and
// returns the response with the time the request started.
func (c *Client) postGrant(ctx context.Context, tenant string, scopes, extraScopes []string, claims string, fields url.Values, rec *requestSpan) (*wire.TokenResponse, time.Time, error) {
	param, value := "scope", strings.Join(append(append([]string(nil), scopes...), extraScopes...), " ")
	if c.cfg.v1 {
		res, err := resourceOf(scopes)
		if err != nil {
			return nil, time.Time{}, err
		}
		param, value = "resource", res
	}
	info := c.info
	if tenant != "" {
		info.Tenant = strings.ToLower(tenant)
	}
	ep, err := c.resolver.Resolve(ctx, info)
	if err != nil {
		return nil, time.Time{}, err
	}
	if claims, err = mergeCapabilities(claims, c.cfg.capabilities); err != nil {
		return nil, time.Time{}, err
	}
	endpoint := c.tokenEndpoint(ep)
	// The form and proof are built for each attempt: a retry must not replay
	// a client assertion's jti, which authorities accept once.
	build := func(ctx context.Context) (url.Values, http.Header, error) {
		rec.attempt()
		form := url.Values{"client_id": {c.clientID}, param: {value}}
		for k, v := range fields {
			form[k] = v
		}
		if claims != "" {
			form.Set("claims", claims)
		}
		hdr, err := c.addProof(ctx, info, ep, endpoint, form)
		return form, hdr, err
	}
	now := c.now()
	resp, err := c.wire.PostFormFunc(ctx, endpoint, build)
	return resp, now, err
}

// tokenOf is the cache's token for a response received at now.
func tokenOf(resp *wire.TokenResponse, now time.Time) *cache.Token {
	exp := resp.ExpiresAt(now)
	t := &cache.Token{AccessToken: resp.AccessToken, TokenType: resp.TokenType, ExpiresOn: exp,
		RefreshOn: cache.ComputeRefreshOn(now, exp, resp.RefreshIn())}
	if t.TokenType == "" {
		t.TokenType = "Bearer"
	}
	return t
}

// addProof adds the client's proof to form (or returns a Basic header).
func (c *Client) addProof(ctx context.Context, info authority.Info, ep authority.Endpoints, endpoint string, form url.Values) (http.Header, error) {
	method := string(c.cfg.authMethod)
	if method != "" && !ep.Supports(method) {
		return nil, fmt.Errorf("WithAuthMethod(%s): authority %s does not advertise it (%s)", method, info.URL(), advertised(ep))
	}
	switch c.proof.kind {
	case proofSecret:
		if method == "" {
			method = ep.SecretMethod(info.Kind)
		}
		switch method {
		case authority.MethodSecretPost:
			form.Set("client_secret", string(*c.proof.secret))
			return nil, nil
		case authority.MethodSecretBasic:
			// RFC 6749 §2.3.1: both parts form-urlencoded before base64.
			req := http.Request{Header: http.Header{}}
			req.SetBasicAuth(url.QueryEscape(c.clientID), url.QueryEscape(string(*c.proof.secret)))
			return req.Header, nil
		default:
			return nil, fmt.Errorf("authority %s accepts neither client_secret_post nor client_secret_basic", info.URL())
		}
	case proofCertificate:
		if !ep.Supports(authority.MethodPrivateKeyJWT) {
			return nil, fmt.Errorf("authority %s does not accept private_key_jwt (certificate) client authentication", info.URL())
		}
		alg := c.proof.certOpts.Alg
		if alg == "" {
			switch {
			case isEC(c.proof.cert):
				alg = proof.ES256
			case info.Kind == authority.Entra:
				alg = proof.PS256
			default:
				alg = proof.RS256
			}
		}
		a, err := c.proof.cert.Assertion(c.clientID, endpoint, proof.AssertionOptions{
			Alg: alg, SendX5C: c.proof.certOpts.SendX5C, Claims: c.cfg.clientClaims, KeyID: c.proof.keyID(info.Kind),
		})
		if err != nil {
			return nil, err
		}
		form.Set("client_assertion_type", assertionType)
		form.Set("client_assertion", a)
	case proofAssertion:
		a, err := c.proof.assertion(ctx, AssertionRequest{ClientID: c.clientID, TokenEndpoint: endpoint})
		if err != nil {
			return nil, fmt.Errorf("assertion callback: %w", err)
		}
		if strings.TrimSpace(a) == "" {
			return nil, fmt.Errorf("assertion callback returned an empty assertion")
		}
		form.Set("client_assertion_type", assertionType)
		form.Set("client_assertion", a)
	}
	return nil, nil
}

// advertised describes an authority's token_endpoint_auth_methods_supported.
func advertised(ep authority.Endpoints) string {
	if ep.AuthMethods == nil {
		return "its discovery document lists no token_endpoint_auth_methods_supported, which means client_secret_basic only"
	}
	return "token_endpoint_auth_methods_supported: " + strings.Join(ep.AuthMethods, ", ")
}

func isEC(c *proof.Certificate) bool {
	_, ok := c.Key.(*ecdsa.PrivateKey)
	return ok
}

// now is the clock the client shares with its cache: time.Now unless a test sets cfg.now.
func (c *Client) now() time.Time {
	if c.cfg.now != nil {
		return c.cfg.now()
	}
	return time.Now()
}
