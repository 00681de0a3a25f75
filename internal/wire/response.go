package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Number is an integer that decodes from a JSON number (3599, 3599.0) or a
// numeric JSON string ("3599", as Entra's v1 endpoint sends). An empty string
// or null decodes as 0 (absent). Fractions are truncated.
type Number int64

// numberError reports a field that is neither a number nor a numeric string.
// Its text names the JSON kind, never the value.
type numberError struct{ kind string }

// Error says what JSON kind was found instead of a number.
func (e *numberError) Error() string {
	return "expected a number or numeric string, got " + e.kind
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *Number) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*n = 0
		return nil
	}
	s := string(b)
	if b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return &numberError{kind: "malformed string"}
		}
		s = strings.TrimSpace(str)
		if s == "" {
			*n = 0
			return nil
		}
	} else if b[0] == '{' || b[0] == '[' || b[0] == 't' || b[0] == 'f' {
		return &numberError{kind: jsonKind(b[0])}
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = Number(i)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64 || f < math.MinInt64 {
		return &numberError{kind: "non-numeric " + jsonKind(b[0])}
	}
	*n = Number(f)
	return nil
}

func jsonKind(b byte) string {
	switch b {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	}
	return "value"
}

// TokenResponse is a successful token endpoint response (entra-protocol.md §5.1),
// covering v2 client credentials, v1 (string numbers, expires_on, resource) and
// on-behalf-of (scope, refresh_token, id_token, client_info).
type TokenResponse struct {
	// AccessToken is the issued token. Never log it.
	AccessToken string `json:"access_token"`
	// TokenType is normally "Bearer"; ParseTokenResponse spells any case of
	// it (some issuers send "bearer") "Bearer".
	TokenType string `json:"token_type"`
	// ExpiresIn is the lifetime in seconds.
	ExpiresIn Number `json:"expires_in"`
	// ExtExpiresIn is Entra's extended lifetime in seconds (resilience mode).
	ExtExpiresIn Number `json:"ext_expires_in"`
	// RefreshInSeconds is Entra's hint for when to refresh, in seconds (0 if absent).
	RefreshInSeconds Number `json:"refresh_in"`
	// ExpiresOn is the expiry as Unix seconds (v1 endpoint), 0 if absent.
	ExpiresOn Number `json:"expires_on"`
	// NotBefore is the start of validity as Unix seconds (v1 endpoint), 0 if absent.
	NotBefore Number `json:"not_before"`
	// Resource is the v1 resource the token is for.
	Resource string `json:"resource"`
	// Scope is the space-separated granted scopes, when sent.
	Scope string `json:"scope"`
	// RefreshToken is returned by on-behalf-of. Never log it.
	RefreshToken string `json:"refresh_token"`
	// IDToken is returned by on-behalf-of with openid. Never log it.
	IDToken string `json:"id_token"`
	// ClientInfo is base64url JSON {"uid","utid"} returned by on-behalf-of.
	ClientInfo string `json:"client_info"`
}

// tokenOrError lets one decode see both a token and an OAuth error that some
// servers send with status 200.
type tokenOrError struct {
	TokenResponse
	Error string `json:"error"`
}

// ParseTokenResponse decodes and validates a token response body: it must be
// a JSON object with a non-empty access_token and expires_in or expires_on.
// Errors wrap ErrNotJSON or ErrInvalidResponse and never quote body content.
func ParseTokenResponse(body []byte) (*TokenResponse, error) {
	var t tokenOrError
	if err := decodeObject(body, &t); err != nil {
		return nil, err
	}
	if t.Error != "" {
		return nil, fmt.Errorf("%w: body carries OAuth error instead of a token", ErrInvalidResponse)
	}
	if err := t.TokenResponse.Validate(); err != nil {
		return nil, err
	}
	t.TokenType = normalizeTokenType(t.TokenType)
	return &t.TokenResponse, nil
}

// normalizeTokenType spells the case-insensitive token type (RFC 6749 §5.1)
// "bearer" the way resources and SDKs compare it, "Bearer"; others stay as sent.
func normalizeTokenType(typ string) string {
	if strings.EqualFold(strings.TrimSpace(typ), "bearer") {
		return "Bearer"
	}
	return typ
}

// Validate checks the fields every client needs: a non-empty access_token and
// a positive expires_in or expires_on.
func (t *TokenResponse) Validate() error {
	if strings.TrimSpace(t.AccessToken) == "" {
		return fmt.Errorf("%w: access_token is missing or empty", ErrInvalidResponse)
	}
	if t.ExpiresIn <= 0 && t.ExpiresOn <= 0 {
		return fmt.Errorf("%w: expires_in and expires_on are both missing or not positive", ErrInvalidResponse)
	}
	if t.RefreshInSeconds < 0 {
		return fmt.Errorf("%w: refresh_in is negative", ErrInvalidResponse)
	}
	return nil
}

// ExpiresAt returns when the token expires: now + expires_in when expires_in
// was sent, else expires_on.
func (t *TokenResponse) ExpiresAt(now time.Time) time.Time {
	if t.ExpiresIn > 0 {
		return now.Add(seconds(t.ExpiresIn))
	}
	return time.Unix(int64(t.ExpiresOn), 0)
}

// RefreshIn returns the authority's refresh hint (refresh_in), 0 when absent.
func (t *TokenResponse) RefreshIn() time.Duration {
	if t.RefreshInSeconds <= 0 {
		return 0
	}
	return seconds(t.RefreshInSeconds)
}

// seconds converts n seconds to a Duration, saturating instead of overflowing.
func seconds(n Number) time.Duration {
	const maxSec = int64(math.MaxInt64 / int64(time.Second))
	if int64(n) > maxSec {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(n) * time.Second
}
