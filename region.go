package appcred

import (
	"fmt"
	"strings"

	"github.com/appcred/appcred/authority"
)

// AutoDetectRegion, given to WithAzureRegion, detects the Azure region the
// process runs in (MSAL's and azidentity's "TryAutoDetect").
const AutoDetectRegion = authority.AutoDetectRegion

// WithAzureRegion sends discovery and token requests to the Entra regional
// endpoint of region, an Azure region name such as "westus2" (what MSAL's
// WithAzureRegion and azidentity's AZURE_REGIONAL_AUTHORITY_NAME do). For
// public-cloud authorities the token endpoint becomes
// https://{region}.login.microsoft.com/{tenant}/oauth2/v2.0/token; for the
// other Microsoft clouds, https://{region}.{host}/…. Instance discovery is
// skipped, and cached tokens stay keyed by the central host.
//
// The region is ignored for authorities that are not on a Microsoft host —
// appcred's local authority, AD FS and generic OpenID Connect issuers. An
// empty region means none (so an unset environment variable can be passed
// as is); the name is trimmed and lower-cased, then must be a DNS label
// (letters, digits, inner hyphens).
//
// AutoDetectRegion ("TryAutoDetect", any case) detects the region once, on
// the first request: the REGION_NAME environment variable, else Azure's
// instance metadata service (within 2 s, through the client's HTTP
// transport); off Azure the central endpoint is used, with one warning.
func WithAzureRegion(region string) Option {
	return func(c *config) error {
		r := strings.ToLower(strings.TrimSpace(region))
		if authority.IsAutoDetect(r) {
			c.region = authority.AutoDetectRegion
			return nil
		}
		if r != "" {
			if err := authority.ValidRegion(r); err != nil {
				return fmt.Errorf("WithAzureRegion: %w", err)
			}
		}
		c.region = r
		return nil
	}
}
