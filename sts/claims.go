package sts

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits on a claims request's lists of values (the form body limit caps the
// whole request; these keep tokens small).
const (
	maxClaimValues   = 32
	maxClaimValueLen = 128
)

// claimsRequest is what the authority honours of an OpenID Connect claims
// request (the token request's "claims" form field, entra-protocol.md §2.2 and §7).
type claimsRequest struct {
	// xmsCC are the client capabilities of access_token.xms_cc.values, lower-cased.
	xmsCC []string
	// acrs are the authentication context class references of
	// access_token.acrs ("value" or "values"); the local authority satisfies any.
	acrs []string
	// polids are the conditional-access policy ids of access_token.polids
	// (a challenge relayed from interaction_required): asking for an app's
	// MFA policy id is a sign-in with (simulated) multi-factor authentication.
	polids []string
}

// parseClaims reads a claims request: a JSON object whose "access_token"
// member, if present, is an object. Of that object it reads xms_cc, acrs,
// polids and nbf and ignores other claims, as Entra ignores claims it does
// not know.
// An nbf value (the time of a revocation event in a CAE challenge) more than
// ClockSkew after now cannot be satisfied by a token issued now.
func parseClaims(s string, now time.Time) (*claimsRequest, *Error) {
	top, ok := jsonObject([]byte(s))
	if !ok {
		return nil, badClaims("it must be a JSON object (an OpenID Connect claims request)")
	}
	raw, has := top["access_token"]
	if !has {
		return &claimsRequest{}, nil
	}
	at, ok := jsonObject(raw)
	if !ok {
		return nil, badClaims("its 'access_token' member must be a JSON object")
	}
	cr := &claimsRequest{}
	if raw, has := at["xms_cc"]; has {
		vals, e := claimValues("xms_cc", raw, false)
		if e != nil {
			return nil, e
		}
		for _, v := range vals {
			if v = strings.ToLower(v); !slices.Contains(cr.xmsCC, v) {
				cr.xmsCC = append(cr.xmsCC, v)
			}
		}
	}
	if raw, has := at["acrs"]; has {
		vals, e := claimValues("acrs", raw, true)
		if e != nil {
			return nil, e
		}
		for _, v := range vals {
			if !slices.Contains(cr.acrs, v) {
				cr.acrs = append(cr.acrs, v)
			}
		}
	}
	if raw, has := at["polids"]; has {
		vals, e := claimValues("polids", raw, false)
		if e != nil {
			return nil, e
		}
		cr.polids = vals
	}
	if raw, has := at["nbf"]; has {
		if e := checkNBF(raw, now); e != nil {
			return nil, e
		}
	}
	return cr, nil
}

// jsonObject decodes data if it is a JSON object (not null, an array or a scalar).
func jsonObject(data []byte) (map[string]json.RawMessage, bool) {
	t := bytes.TrimLeft(data, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(t, &m); err != nil {
		return nil, false
	}
	return m, true
}

// claimValues reads an individual claim request {"essential":…, "values":[…]}
// (and, if single, {"value":"…"} too): non-empty strings, at most maxClaimValues.
func claimValues(name string, raw json.RawMessage, single bool) ([]string, *Error) {
	obj, ok := jsonObject(raw)
	if !ok {
		return nil, badClaims("'access_token.%s' must be a JSON object", name)
	}
	var vals []string
	if v, has := obj["value"]; has && single {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, badClaims("'access_token.%s.value' must be a string", name)
		}
		vals = append(vals, s)
	}
	if v, has := obj["values"]; has {
		var list []string
		if err := json.Unmarshal(v, &list); err != nil || list == nil {
			return nil, badClaims("'access_token.%s.values' must be an array of strings", name)
		}
		vals = append(vals, list...)
	}
	if len(vals) > maxClaimValues {
		return nil, badClaims("'access_token.%s' has more than %d values", name, maxClaimValues)
	}
	for _, v := range vals {
		if v == "" || len(v) > maxClaimValueLen || strings.ContainsFunc(v, isControl) {
			return nil, badClaims("'access_token.%s' has an empty, overlong (over %d bytes) or unprintable value", name, maxClaimValueLen)
		}
	}
	return vals, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// checkNBF checks access_token.nbf {"essential":true,"value":"<Unix time>"}
// (the value may also be a JSON number). A token issued now satisfies a value
// in the past; a value beyond ClockSkew in the future cannot be satisfied and
// gets codeInvalidParameter, as malformed claims do.
func checkNBF(raw json.RawMessage, now time.Time) *Error {
	obj, ok := jsonObject(raw)
	if !ok {
		return badClaims("'access_token.nbf' must be a JSON object")
	}
	v, has := obj["value"]
	if !has {
		return nil
	}
	var text string
	if err := json.Unmarshal(v, &text); err != nil {
		text = string(bytes.TrimSpace(v)) // a JSON number
	}
	nbf, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return badClaims("'access_token.nbf.value' must be a Unix time in seconds")
	}
	if nbf > now.Add(ClockSkew).Unix() {
		return newErr(http.StatusBadRequest, "invalid_request", codeInvalidParameter,
			"The parameter 'claims' is not valid: it asks for a token not valid before %d, which is more than %d seconds after the "+
				"current time %d. Check the clocks of the resource that sent the claims challenge and of this authority.",
			nbf, int64(ClockSkew/time.Second), now.Unix())
	}
	return nil
}

func badClaims(format string, args ...any) *Error {
	e := newErr(http.StatusBadRequest, "invalid_request", codeInvalidParameter, format, args...)
	e.Message = "The parameter 'claims' is empty or not valid: " + e.Message + "."
	return e
}
