package appcred

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/internal/wire"
)

// MaxClaimsBytes bounds the claims of a request (WithClaims,
// TokenRequestOptions.Claims): 16 KiB. Larger claims are refused with an
// error wrapping ErrClaimsTooLarge and naming the size, before anything is
// sent. Claims come from resource servers' challenges; real ones are a few
// hundred bytes.
const MaxClaimsBytes = wire.MaxClaimsBytes

// ErrClaimsTooLarge means claims exceed MaxClaimsBytes; test with errors.Is.
var ErrClaimsTooLarge = wire.ErrClaimsTooLarge

// ClaimsRequestInterval rate-limits claims requests: a Client sends at most
// one claims request per cache key (tenant, scopes) in this interval. A claims
// request within it, whatever its claims, waits for and returns the result of
// the last one (its token, marked FromCache, or its error), so a resource
// server answering every call with a claims challenge cannot turn each call
// into a request to the authority.
const ClaimsRequestInterval = 5 * time.Second

// checkClaims validates claims given by a caller: size first (before any
// parsing), then JSON.
func checkClaims(claims string) error {
	if err := wire.CheckClaimsSize(len(claims)); err != nil {
		return err
	}
	if !json.Valid([]byte(claims)) {
		return errors.New("claims is not valid JSON")
	}
	return nil
}

// claimsFlight is the last claims request of one key.
type claimsFlight struct {
	at   time.Time
	done chan struct{} // closed when tok / err are set
	tok  *cache.Token
	err  error
}

// maxClaimsFlights is the size from which expired claims flights are pruned.
const maxClaimsFlights = 1024

// claimsRequest runs do, the claims request for key, unless one ran for key
// less than ClaimsRequestInterval ago: then it returns that one's result
// (reused = true), waiting for it if it is still in flight.
func (c *Client) claimsRequest(ctx context.Context, key string, do cache.FetchFunc) (t *cache.Token, reused bool, err error) {
	now := c.now()
	c.claimsMu.Lock()
	if f, ok := c.claims[key]; ok && now.Sub(f.at) < ClaimsRequestInterval {
		c.claimsMu.Unlock()
		select {
		case <-f.done:
			return f.tok, true, f.err
		case <-ctx.Done():
			return nil, true, ctx.Err()
		}
	}
	if c.claims == nil {
		c.claims = map[string]*claimsFlight{}
	}
	if len(c.claims) >= maxClaimsFlights {
		for k, f := range c.claims {
			if now.Sub(f.at) >= ClaimsRequestInterval {
				delete(c.claims, k)
			}
		}
	}
	f := &claimsFlight{at: now, done: make(chan struct{})}
	c.claims[key] = f
	c.claimsMu.Unlock()
	f.tok, f.err = do(ctx)
	if f.err != nil && ctx.Err() != nil { // this caller gave up: the next one may ask again
		c.claimsMu.Lock()
		if c.claims[key] == f {
			delete(c.claims, key)
		}
		c.claimsMu.Unlock()
	}
	close(f.done)
	return f.tok, false, f.err
}

// mergeCapabilities adds client capabilities (such as "CP1", which announces
// that the client can answer claims challenges) to a claims request, keeping
// what is there: {"access_token":{"xms_cc":{"values":[…]}}}. It is
// idempotent, and returns claims unchanged when caps is empty.
func mergeCapabilities(claims string, caps []string) (string, error) {
	if len(caps) == 0 {
		return claims, nil
	}
	doc := map[string]any{}
	if strings.TrimSpace(claims) != "" {
		if err := json.Unmarshal([]byte(claims), &doc); err != nil || doc == nil {
			return "", errors.New("claims is not a JSON object")
		}
	}
	at, ok := doc["access_token"].(map[string]any)
	if !ok {
		if _, present := doc["access_token"]; present {
			return "", errors.New(`claims: "access_token" is not a JSON object`)
		}
		at = map[string]any{}
		doc["access_token"] = at
	}
	cc, ok := at["xms_cc"].(map[string]any)
	if !ok {
		if _, present := at["xms_cc"]; present {
			return "", errors.New(`claims: "xms_cc" is not a JSON object`)
		}
		cc = map[string]any{}
		at["xms_cc"] = cc
	}
	values, _ := cc["values"].([]any)
	for _, c := range caps {
		if !slices.ContainsFunc(values, func(v any) bool { s, _ := v.(string); return strings.EqualFold(s, c) }) {
			values = append(values, c)
		}
	}
	cc["values"] = values
	b, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// capabilitiesExtra is the cache-key discriminator of a client with
// capabilities, so its tokens never mix with plain ones in a shared Store.
func capabilitiesExtra(caps []string) string {
	if len(caps) == 0 {
		return ""
	}
	s := make([]string, len(caps))
	for i, c := range caps {
		s[i] = strings.ToLower(c)
	}
	slices.Sort(s)
	return "xms_cc=" + strings.Join(slices.Compact(s), ",")
}
