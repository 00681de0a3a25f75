package appcred

import (
	"fmt"
	"strings"

	"github.com/appcred/appcred/authority"
)

// WithV1Resource makes the client ask for tokens the v1 (ADAL) way: the
// request carries resource= instead of scope= and goes to Entra's v1 token
// endpoint ({authority}/oauth2/token; AD FS and generic issuers keep their
// discovered endpoint, where resource= is RFC 8707's resource indicator).
// Callers keep passing scopes as MSAL and azidentity do: the single scope
// "{resource}/.default" is sent as resource={resource} (a scope without
// "/.default" is sent as it is), so "https://service.contoso.com//.default"
// asks for "https://service.contoso.com/". Use it for AD FS farms and
// resources that accept only v1 requests. A v1 request names one resource:
// several scopes are refused. Tokens of such a client are cached under their
// own keys.
func WithV1Resource() Option {
	return func(c *config) error { c.v1 = true; return nil }
}

// v1Suffix is the suffix MSAL and azidentity add to a resource to make its
// client-credentials scope.
const v1Suffix = "/.default"

// v1Extra is the cache-key discriminator of a client that sends v1 requests.
const v1Extra = "v1"

// resourceOf maps the scopes of a v1 request to its resource.
func resourceOf(scopes []string) (string, error) {
	if len(scopes) != 1 {
		return "", fmt.Errorf("WithV1Resource: a v1 request names one resource, got %d scopes", len(scopes))
	}
	res := strings.TrimSuffix(strings.TrimSpace(scopes[0]), v1Suffix)
	if res == "" {
		return "", fmt.Errorf("WithV1Resource: scope %q names no resource", scopes[0])
	}
	return res, nil
}

// tokenEndpoint is where the client posts its token requests: the v1
// endpoint for a v1 client at Entra, else the discovered token endpoint.
func (c *Client) tokenEndpoint(ep authority.Endpoints) string {
	if c.cfg.v1 && ep.V1TokenEndpoint != "" {
		return ep.V1TokenEndpoint
	}
	return ep.TokenEndpoint
}
