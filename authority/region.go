package authority

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// ErrInvalidRegion means an Azure region name is not valid.
var ErrInvalidRegion = errors.New("invalid Azure region")

// regionRE is the region syntax MSAL Go accepts: a DNS label in lower case.
var regionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$`) }) // compiled on first use: it is costly at startup

// AutoDetectRegion, given as a region, asks for the region of the Azure host
// the process runs on (MSAL's and azidentity's "TryAutoDetect"): see
// DetectRegion.
const AutoDetectRegion = "TryAutoDetect"

// IsAutoDetect reports whether region asks for auto-detection (any case).
func IsAutoDetect(region string) bool {
	return strings.EqualFold(strings.TrimSpace(region), AutoDetectRegion)
}

// ValidRegion checks an Azure region name such as "westus2": lower-case
// letters, digits and inner hyphens, at most 63 characters, starting with a
// letter; or AutoDetectRegion.
func ValidRegion(region string) error {
	if IsAutoDetect(region) {
		return nil
	}
	if !regionRE().MatchString(region) {
		shown := region
		if len(shown) > 80 {
			shown = shown[:80] + "…"
		}
		return fmt.Errorf("%w %s: want a lower-case Azure region name such as \"westus2\" (letters, digits and inner hyphens, starting with a letter, at most 63 characters)",
			ErrInvalidRegion, strconv.Quote(shown))
	}
	return nil
}

// publicCloudHosts are the central hosts whose regional form is
// {region}.login.microsoft.com (MSAL Python's and Go's mapping).
var publicCloudHosts = map[string]bool{
	"login.microsoftonline.com": true,
	"login.microsoft.com":       true,
	"login.windows.net":         true,
	"sts.windows.net":           true,
}

// RegionalHost returns the regional host (with a's port, if any) that an
// Entra authority on a Microsoft host uses in region:
// "{region}.login.microsoft.com" for the public cloud's hosts, and
// "{region}.{host}" for the other Microsoft hosts. It returns false — the
// region does not apply — for AD FS, generic issuers, hosts that are not
// Microsoft hosts (appcred's local authority included) and an empty region.
// It does not validate region; see ValidRegion.
func RegionalHost(a Info, region string) (string, bool) {
	if region == "" || a.Kind != Entra || !a.IsMicrosoftHost() {
		return "", false
	}
	host := strings.ToLower(strings.TrimSuffix(a.Hostname(), "."))
	if publicCloudHosts[host] {
		host = "login.microsoft.com"
	}
	host = region + "." + host
	if _, port, err := net.SplitHostPort(a.Host); err == nil && port != "" {
		host = net.JoinHostPort(host, port)
	}
	return host, true
}
