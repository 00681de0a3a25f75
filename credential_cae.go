package appcred

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/appcred/appcred/cache"
)

// CAE (continuous access evaluation): a client that can answer claims
// challenges announces the "CP1" capability in the claims of every token
// request, {"access_token":{"xms_cc":{"values":["CP1"]}}}, and Entra may then
// issue long-lived tokens it can revoke. CAE tokens are cached apart from
// plain ones: a separate Client (memory) and a separate key in the Store.

// caeExtra marks CAE tokens' keys in a shared cache.Store.
const caeExtra = "cae"

// mergeCP1 adds the CP1 client capability to a claims request (a JSON object),
// keeping what is there. It is idempotent.
func mergeCP1(claims string) (string, error) {
	doc := map[string]any{}
	if strings.TrimSpace(claims) != "" {
		if err := json.Unmarshal([]byte(claims), &doc); err != nil || doc == nil {
			return "", errors.New("TokenRequestOptions.Claims is not a JSON object")
		}
	}
	at, ok := doc["access_token"].(map[string]any)
	if !ok {
		if _, present := doc["access_token"]; present {
			return "", errors.New(`TokenRequestOptions.Claims: "access_token" is not a JSON object`)
		}
		at = map[string]any{}
		doc["access_token"] = at
	}
	cc, _ := at["xms_cc"].(map[string]any)
	if cc == nil {
		cc = map[string]any{}
		at["xms_cc"] = cc
	}
	values, _ := cc["values"].([]any)
	if !containsCP1(values) {
		cc["values"] = append(values, "CP1")
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func containsCP1(values []any) bool {
	for _, v := range values {
		if v == "CP1" {
			return true
		}
	}
	return false
}

// capabilityTransport adds the CP1 capability to the claims of every token
// request (a form POST with grant_type) on its way to the authority.
//
// TODO(lead): replace with a Client option (WithClientCapabilities) that
// merges the capability into the form in requestToken; this transport exists
// only because the root package's request code is owned elsewhere.
type capabilityTransport struct{ next http.RoundTripper }

func (t *capabilityTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	if r.Method != http.MethodPost || r.Body == nil ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return next.RoundTrip(r)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("grant_type") == "" {
		return next.RoundTrip(withBody(r, body))
	}
	claims, err := mergeCP1(form.Get("claims"))
	if err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	form.Set("claims", claims)
	return next.RoundTrip(withBody(r, []byte(form.Encode())))
}

// withBody is a shallow copy of r with body as its (replayable) body.
func withBody(r *http.Request, body []byte) *http.Request {
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r2.ContentLength = int64(len(body))
	r2.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return r2
}

// caeStore keeps CAE tokens apart from plain tokens in a shared Store by
// marking their keys (cache.KeyParts.Extra).
type caeStore struct{ s cache.Store }

func (c caeStore) key(k string) string {
	p, err := cache.ParseKey(k)
	if err != nil {
		return k + "|" + caeExtra
	}
	if p.Extra == "" {
		p.Extra = caeExtra
	} else {
		p.Extra += "+" + caeExtra
	}
	return string(cache.AppendKey(nil, p))
}

func (c caeStore) Get(ctx context.Context, key string) (*cache.Token, error) {
	return c.s.Get(ctx, c.key(key))
}

func (c caeStore) Put(ctx context.Context, key string, t *cache.Token) error {
	return c.s.Put(ctx, c.key(key), t)
}

func (c caeStore) Delete(ctx context.Context, key string) error { return c.s.Delete(ctx, c.key(key)) }

// transporterRT runs requests through an azcore policy.Transporter (an
// *http.Client or any other).
type transporterRT struct{ t policy.Transporter }

func (t transporterRT) RoundTrip(r *http.Request) (*http.Response, error) { return t.t.Do(r) }

// baseTransport is the round tripper every client of a credential uses: the
// caller's Transport, or a transport trusting CACertificates, or nil (the
// default).
func baseTransport(o credOptions) (http.RoundTripper, error) {
	if o.client.Transport != nil {
		if len(o.caCertificates) > 0 {
			return nil, errors.New("CACertificates cannot be combined with ClientOptions.Transport: configure the transport's RootCAs instead")
		}
		return transporterRT{o.client.Transport}, nil
	}
	if len(o.caCertificates) == 0 {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(o.caCertificates) {
		return nil, errors.New("CACertificates: no PEM CERTIFICATE found")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}
