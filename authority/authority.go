// Package authority parses and validates the authorities appcred talks to —
// Microsoft Entra hosts with a tenant (public, US Government and China clouds,
// or any https host that speaks Entra's protocol such as appcred's local
// authority), AD FS, and any generic OpenID Connect issuer — and resolves them
// to endpoints through OIDC discovery and, for Entra hosts, instance discovery,
// caching results per authority.
package authority

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Entra authority hosts of the national clouds.
const (
	// PublicCloud is the Entra host of the global Azure cloud.
	PublicCloud = "https://login.microsoftonline.com"
	// USGovernment is the Entra host of Azure US Government.
	USGovernment = "https://login.microsoftonline.us"
	// China is the Entra host of Azure operated by 21Vianet.
	China = "https://login.chinacloudapi.cn"
)

// Kind says which protocol dialect an authority speaks.
type Kind int

// Authority kinds.
const (
	// Entra is a Microsoft Entra (or Entra-compatible) host with a tenant.
	Entra Kind = iota + 1
	// ADFS is Active Directory Federation Services ("https://host/adfs").
	ADFS
	// Generic is any OpenID Connect issuer, discovered at
	// {issuer}/.well-known/openid-configuration.
	Generic
)

// String returns "entra", "adfs" or "generic".
func (k Kind) String() string {
	switch k {
	case Entra:
		return "entra"
	case ADFS:
		return "adfs"
	case Generic:
		return "generic"
	}
	return "unknown(" + strconv.Itoa(int(k)) + ")"
}

// Info is a parsed, validated authority. Compare Infos with ==; use URL as a
// cache key. Build one with Parse, New or ParseIssuer.
type Info struct {
	// Kind is the protocol dialect.
	Kind Kind
	// Scheme is "https", or "http" for a loopback host when allowed.
	Scheme string
	// Host is the lower-case host with a non-default port, e.g. "127.0.0.1:8443".
	Host string
	// Tenant is the lower-case Entra tenant (GUID or domain), "adfs" for AD FS,
	// or "" for a generic issuer.
	Tenant string
	// Issuer is the configured issuer URL of a generic authority, without a
	// trailing slash; "" for Entra and AD FS.
	Issuer string
}

// URL returns the canonical authority URL: "https://host/tenant" for Entra
// and AD FS, the issuer for a generic authority.
func (i Info) URL() string {
	if i.Kind == Generic {
		return i.Issuer
	}
	return i.Scheme + "://" + i.Host + "/" + i.Tenant
}

// Hostname returns Host without its port.
func (i Info) Hostname() string {
	h := i.Host
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return strings.Trim(h, "[]")
}

// IsLoopback reports whether the host is localhost or a loopback IP.
func (i Info) IsLoopback() bool { return isLoopback(i.Hostname()) }

// IsMicrosoftHost reports whether the host is a known Microsoft Entra host.
func (i Info) IsMicrosoftHost() bool { return IsMicrosoftHost(i.Hostname()) }

// ParseOptions relax the default rules of Parse, New and ParseIssuer.
type ParseOptions struct {
	// AllowInsecureLoopback permits plain http when the host is localhost or a
	// loopback IP. Any other http authority is always rejected.
	AllowInsecureLoopback bool
	// AllowMultiTenant permits the tenants "common", "organizations" and
	// "consumers", which client credentials cannot use (Entra answers with
	// AADSTS9001023 or an unpredictable tenant). Leave it off for app tokens.
	AllowMultiTenant bool
}

// Errors returned by this package; test with errors.Is.
var (
	// ErrInvalidAuthority is wrapped by every parse failure.
	ErrInvalidAuthority = errors.New("invalid authority")
	// ErrMultiTenant means the tenant is common, organizations or consumers.
	ErrMultiTenant = errors.New("multi-tenant authority")
)

// ParseError reports an authority (or tenant) that failed validation. Its text
// names the input, with any password in it redacted.
type ParseError struct {
	// Input is the offending authority URL or tenant, redacted.
	Input string
	// Reason says what is wrong and what is expected.
	Reason string
	// Err is a more specific sentinel (such as ErrMultiTenant), or nil.
	Err error
}

// Error returns `invalid authority "<input>": <reason>`.
func (e *ParseError) Error() string {
	return "invalid authority " + strconv.Quote(e.Input) + ": " + e.Reason
}

// Unwrap returns ErrInvalidAuthority and, when set, Err.
func (e *ParseError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidAuthority, e.Err}
	}
	return []error{ErrInvalidAuthority}
}

// validTenant is what Entra accepts as a tenant, a GUID or a domain name: a
// letter or digit, then letters, digits, '.', '-' and '_', at most 255 in all.
// (A loop, not a regexp: compiling `{0,254}` costs a CLI run more than the rest of its start.)
func validTenant(t string) bool {
	if t == "" || len(t) > 255 || !isAlnum(t[0]) {
		return false
	}
	for _, c := range []byte(t) {
		if !isAlnum(c) && c != '.' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// multiTenant are the tenant aliases that do not name one tenant.
var multiTenant = map[string]bool{"common": true, "organizations": true, "consumers": true}

// Parse parses an Entra or AD FS authority URL, "https://host[:port]/{tenant}"
// (a trailing slash is allowed). The tenant "adfs" makes an ADFS authority.
// Use ParseIssuer for a generic OpenID Connect issuer.
func Parse(authorityURL string, o ParseOptions) (Info, error) {
	u, shown, err := parseBase(authorityURL, o)
	if err != nil {
		return Info{}, err
	}
	path := strings.Trim(u.Path, "/")
	if path == "" {
		return Info{}, &ParseError{Input: shown, Reason: "missing tenant: want https://host/{tenant} with a tenant ID or domain"}
	}
	if strings.Contains(path, "/") {
		return Info{}, &ParseError{Input: shown, Reason: "unexpected path after the tenant: want https://host/{tenant} with nothing after the tenant"}
	}
	tenant, err := checkTenant(path, shown, o)
	if err != nil {
		return Info{}, err
	}
	info := Info{Kind: Entra, Scheme: u.Scheme, Host: canonicalHost(u), Tenant: tenant}
	if tenant == "adfs" {
		info.Kind = ADFS
	}
	return info, nil
}

// New builds an Entra (or AD FS, for tenant "adfs") authority from a host —
// one of PublicCloud, USGovernment, China, or any "https://host[:port]"; a bare
// host name gets "https://" — and a tenant ID or domain.
func New(host, tenant string, o ParseOptions) (Info, error) {
	host = strings.TrimSpace(host)
	if !strings.Contains(host, "://") && host != "" {
		host = "https://" + host
	}
	u, shown, err := parseBase(host, o)
	if err != nil {
		return Info{}, err
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		return Info{}, &ParseError{Input: shown, Reason: "authority host must not have a path; pass the tenant separately"}
	}
	t, err := checkTenant(strings.TrimSpace(tenant), tenant, o)
	if err != nil {
		return Info{}, err
	}
	info := Info{Kind: Entra, Scheme: u.Scheme, Host: canonicalHost(u), Tenant: t}
	if t == "adfs" {
		info.Kind = ADFS
	}
	return info, nil
}

// ValidTenant checks tenant as New and Parse do: a tenant ID (GUID) or domain
// name that names one tenant (not common, organizations or consumers). The
// error is a *ParseError.
func ValidTenant(tenant string) error {
	_, err := checkTenant(tenant, tenant, ParseOptions{})
	return err
}

// ParseIssuer parses a generic OpenID Connect issuer URL such as
// "https://accounts.example.com" or "https://idp.example.com/realms/prod".
func ParseIssuer(issuer string, o ParseOptions) (Info, error) {
	u, _, err := parseBase(issuer, o)
	if err != nil {
		return Info{}, err
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	return Info{Kind: Generic, Scheme: u.Scheme, Host: canonicalHost(u),
		Issuer: u.Scheme + "://" + canonicalHost(u) + path}, nil
}

// parseBase checks what every authority kind shares: an absolute https URL
// (http only for loopback when allowed) without user info, query or fragment.
// It returns the URL and the redacted text to show in errors.
func parseBase(raw string, o ParseOptions) (*url.URL, string, error) {
	trimmed := strings.TrimSpace(raw)
	shown := trimmed
	if len(shown) > 200 {
		shown = shown[:200] + "…"
	}
	if trimmed == "" {
		return nil, shown, &ParseError{Input: shown, Reason: "empty authority URL"}
	}
	u, err := url.Parse(trimmed)
	if err != nil {
		if i := strings.LastIndex(shown, "@"); i >= 0 {
			shown = "…" + shown[i:] // may have held a password
		}
		return nil, shown, &ParseError{Input: shown, Reason: "not a URL"}
	}
	if u.User != nil {
		u.User = nil
		return nil, u.String(), &ParseError{Input: u.String(), Reason: "user info is not allowed in an authority URL"}
	}
	shown = u.String()
	if u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return nil, shown, &ParseError{Input: shown, Reason: "want an absolute URL such as https://login.microsoftonline.com/{tenant}"}
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, shown, &ParseError{Input: shown, Reason: "query and fragment are not allowed in an authority URL"}
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host := u.Hostname()
	if host == "" {
		return nil, shown, &ParseError{Input: shown, Reason: "missing host"}
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, shown, &ParseError{Input: shown, Reason: "invalid port " + strconv.Quote(p)}
		}
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(host) {
			return nil, shown, &ParseError{Input: shown, Reason: "authority must use https (plain http is allowed only for loopback hosts)"}
		}
		if !o.AllowInsecureLoopback {
			return nil, shown, &ParseError{Input: shown, Reason: "authority must use https; plain http to a loopback host needs the AllowInsecureLoopback option"}
		}
	default:
		return nil, shown, &ParseError{Input: shown, Reason: "authority must use https, not " + strconv.Quote(u.Scheme)}
	}
	return u, shown, nil
}

// checkTenant validates and lower-cases a tenant; shown is what errors quote.
func checkTenant(tenant, shown string, o ParseOptions) (string, error) {
	if tenant == "" {
		return "", &ParseError{Input: shown, Reason: "empty tenant: want a tenant ID (GUID) or domain"}
	}
	if !validTenant(tenant) {
		return "", &ParseError{Input: shown, Reason: "tenant " + strconv.Quote(tenant) +
			" contains characters outside A-Z a-z 0-9 . - _ : want a tenant ID (GUID) or domain"}
	}
	t := strings.ToLower(tenant)
	if multiTenant[t] && !o.AllowMultiTenant {
		return "", &ParseError{Input: shown, Err: ErrMultiTenant, Reason: "tenant " + strconv.Quote(tenant) +
			" does not name one tenant and cannot be used for client credentials: use your tenant ID (GUID) or domain"}
	}
	return t, nil
}

// canonicalHost returns the lower-case host, dropping the scheme's default port.
func canonicalHost(u *url.URL) string {
	host := strings.ToLower(u.Host)
	switch {
	case u.Scheme == "https" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	case u.Scheme == "http" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	}
	return host
}

// isLoopback reports whether host (without port) is localhost or a loopback IP.
func isLoopback(host string) bool {
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// microsoftHosts are the Entra hosts MSAL trusts without instance discovery.
var microsoftHosts = map[string]bool{
	"login.microsoftonline.com":        true,
	"login.windows.net":                true,
	"login.microsoft.com":              true,
	"sts.windows.net":                  true,
	"login.partner.microsoftonline.cn": true,
	"login.chinacloudapi.cn":           true,
	"login.microsoftonline.de":         true,
	"login-us.microsoftonline.com":     true,
	"login.microsoftonline.us":         true,
	"login.usgovcloudapi.net":          true,
	"login.sovcloud-identity.fr":       true,
	"login.sovcloud-identity.de":       true,
	"login.sovcloud-identity.sg":       true,
}

// IsMicrosoftHost reports whether hostname (no port) is a known Microsoft
// Entra host (the list MSAL trusts).
func IsMicrosoftHost(hostname string) bool {
	return microsoftHosts[strings.ToLower(strings.TrimSuffix(hostname, "."))]
}
