package appcred

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
)

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
