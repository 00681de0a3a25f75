package authority

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// ErrTokenEndpointHost means an Entra or AD FS discovery document names a
// token endpoint on a host that is neither the authority's host nor one of
// its aliases, where the client's secret or assertion would be sent.
var ErrTokenEndpointHost = errors.New("token_endpoint is not on the authority's host")

// cloudAliases groups the Microsoft hosts that serve one cloud (MSAL's known
// instance metadata): a document fetched from one may name another.
var cloudAliases = [][]string{
	{"login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"},
	{"login.partner.microsoftonline.cn", "login.chinacloudapi.cn"},
	{"login.microsoftonline.us", "login.usgovcloudapi.net"},
}

// checkTokenHost ties the document's token endpoint to the authority: for
// Entra and AD FS it must be on the authority's host name (any port), one of
// aliases (instance discovery's, or the regional and central hosts), or, for
// a Microsoft host, a host of the same cloud or a regional host of one. A
// generic issuer's endpoint on another host is allowed (issuers may serve
// tokens from elsewhere) but logged as a warning.
func (r *Resolver) checkTokenHost(ctx context.Context, a Info, endpoint string, aliases []string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return err // checkEndpointURL has already refused it
	}
	host := normHost(u.Hostname())
	if host == normHost(a.Hostname()) {
		return nil
	}
	for _, alias := range aliases {
		if h, _, err := net.SplitHostPort(alias); err == nil {
			alias = h
		}
		if host == normHost(alias) {
			return nil
		}
	}
	switch {
	case a.Kind == Generic:
		if r.opts.Logger != nil {
			r.opts.Logger.WarnContext(ctx, "appcred: the issuer's token_endpoint is on another host; client credentials will be sent there",
				"issuer", a.Issuer, "token_endpoint_host", u.Host)
		}
		return nil
	case a.Kind == Entra && a.IsMicrosoftHost() && sameCloud(normHost(a.Hostname()), host):
		return nil
	}
	return fmt.Errorf("%w: %w: %q is on host %q, not on %q or one of its aliases", ErrDiscovery, ErrTokenEndpointHost,
		endpoint, u.Hostname(), a.Hostname())
}

// sameCloud reports whether host is a Microsoft host of central's cloud, or a
// regional host ({region}.{host}) of one.
func sameCloud(central, host string) bool {
	if region, rest, ok := strings.Cut(host, "."); ok && ValidRegion(region) == nil && !IsAutoDetect(region) && IsMicrosoftHost(rest) {
		host = rest
	}
	if host == central {
		return true
	}
	for _, group := range cloudAliases {
		if slices.Contains(group, central) && slices.Contains(group, host) {
			return true
		}
	}
	return false
}

// normHost is a host name in lower case without a trailing dot.
func normHost(h string) string { return strings.ToLower(strings.TrimSuffix(h, ".")) }
