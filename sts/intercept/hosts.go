package intercept

import (
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/appcred/appcred/sts/arm"
)

// Kind says where a CONNECT destination goes.
type Kind int

const (
	// Refused is every destination that is neither an identity nor a
	// Resource Manager host, and every port other than 443.
	Refused Kind = iota
	// Identity is a Microsoft identity (Entra ID) host: its tunnel reaches
	// the local authority.
	Identity
	// ARM is an Azure Resource Manager host: its tunnel reaches the local
	// Resource Manager endpoints.
	ARM
)

// String names the kind for logs.
func (k Kind) String() string {
	switch k {
	case Identity:
		return "identity"
	case ARM:
		return "arm"
	default:
		return "refused"
	}
}

// identityHosts are the Entra token hosts of every cloud: the hosts MSAL Go
// trusts (aadTrustedHostList), MSAL Python's well-known hosts and
// azure-identity's authority hosts.
var identityHosts = []string{
	"login.microsoftonline.com", "login.microsoft.com", "login.windows.net", "sts.windows.net", // public
	"login-us.microsoftonline.com", "login.microsoftonline.us", "login.usgovcloudapi.net", // US Government
	"login.chinacloudapi.cn", "login.partner.microsoftonline.cn", // China (21Vianet)
	"login.microsoftonline.de",                                                               // Germany (closed 2021)
	"login.sovcloud-identity.fr", "login.sovcloud-identity.de", "login.sovcloud-identity.sg", // sovereign clouds
}

// regionalParents are the hosts MSAL prefixes with a region
// ({region}.login.microsoft.com): the public cloud's hosts all map to
// login.microsoft.com, every other cloud keeps its own host.
var regionalParents = []string{
	"login.microsoft.com",
	"login-us.microsoftonline.com", "login.microsoftonline.us", "login.usgovcloudapi.net",
	"login.chinacloudapi.cn", "login.partner.microsoftonline.cn",
	"login.microsoftonline.de",
	"login.sovcloud-identity.fr", "login.sovcloud-identity.de", "login.sovcloud-identity.sg",
}

// armHosts are the Resource Manager hosts of every cloud, as sts/arm serves them.
// (Computed on first use, as is regionLabel: not when a program linking the package starts.)
var armHosts = sync.OnceValue(arm.Hosts)

// regionLabel is MSAL Go's rule for a region name.
var regionLabel = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$`) })

// IdentityHosts returns the Microsoft identity hosts the proxy tunnels to the
// local authority (regional hosts such as westus.login.microsoft.com are
// matched as well; see CertificateHosts).
func IdentityHosts() []string { return slices.Clone(identityHosts) }

// ARMHosts returns the Resource Manager hosts the proxy tunnels to the local
// Resource Manager endpoints.
func ARMHosts() []string { return slices.Clone(armHosts()) }

// CertificateHosts returns every DNS name the TLS certificate behind the
// tunnels must cover: the identity hosts, a wildcard for the regional hosts
// ("*.login.microsoft.com" and the like) and the Resource Manager hosts.
func CertificateHosts() []string {
	out := slices.Clone(identityHosts)
	for _, p := range regionalParents {
		out = append(out, "*."+p)
	}
	return append(out, armHosts()...)
}

// Classify says where a CONNECT to host (a DNS name, any case, with at most
// one trailing dot) on port goes. Only port 443 is ever tunnelled.
func Classify(host string, port int) Kind {
	if port != 443 {
		return Refused
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	switch {
	case slices.Contains(identityHosts, h):
		return Identity
	case slices.Contains(armHosts(), h):
		return ARM
	}
	if label, parent, ok := strings.Cut(h, "."); ok && regionLabel().MatchString(label) &&
		slices.Contains(regionalParents, parent) {
		return Identity
	}
	return Refused
}

// splitTarget splits a CONNECT authority ("host:port") into a host and a
// port, rejecting what is not one: no port, a port outside 1-65535 or not in
// canonical decimal form, an empty host or one with characters a DNS name or
// IP literal cannot hold.
func splitTarget(authority string) (string, int, bool) {
	host, ps, err := net.SplitHostPort(authority)
	if err != nil || host == "" || len(host) > 255 {
		return "", 0, false
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 || strconv.Itoa(port) != ps {
		return "", 0, false
	}
	if net.ParseIP(host) != nil {
		return host, port, true
	}
	for _, c := range host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "", 0, false
		}
	}
	return host, port, true
}
