package sts

import (
	"crypto/rsa"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/sts/directory"
)

// MaxAssertionLifetime is the longest a client assertion may be valid, from
// its nbf (or iat) to its exp; without nbf and iat, exp may be at most this far
// ahead. Entra's own clients sign assertions for 10 minutes.
const MaxAssertionLifetime = 24 * time.Hour

// MinRSABits is the smallest RSA key accepted for client assertions.
const MinRSABits = directory.MinRSABits

// checkCrit refuses a JWS header naming critical extensions (RFC 7515
// §4.1.11): the authority understands none, so it must not accept them.
func checkCrit(h map[string]any) *Error {
	if _, ok := h["crit"]; !ok {
		return nil
	}
	return newErr(http.StatusUnauthorized, "invalid_client", codeInvalidJWT,
		"Invalid JWT token. The header parameter 'crit' names extensions this authority does not understand.")
}

// checkKeySize refuses an RSA key shorter than MinRSABits, even one
// registered before the limit was enforced.
func checkKeySize(pub *rsa.PublicKey, clientID string) *Error {
	if bits := pub.N.BitLen(); bits < MinRSABits {
		return newErr(http.StatusUnauthorized, "invalid_client", codeAssertionSignature,
			"Client assertion was signed by a %d-bit RSA key; keys of at least %d bits are required. Register a "+
				"stronger certificate on app '%s'.", bits, MinRSABits, clientID)
	}
	return nil
}

// checkLifetime bounds a verified assertion's times: each of exp, nbf and iat
// must be a finite number, nbf and iat may not lie in the future (beyond the
// clock skew), and the assertion may be valid for at most MaxAssertionLifetime
// (from the earlier of nbf and iat, or from now when both are missing).
func checkLifetime(claims jwt.MapClaims, now time.Time) *Error {
	nowS := float64(now.UnixNano()) / 1e9
	skew := ClockSkew.Seconds()
	exp, ok := numericClaim(claims["exp"])
	if !ok {
		return badTime("exp")
	}
	start, hasStart := math.Inf(1), false
	for _, name := range []string{"nbf", "iat"} {
		v, present := claims[name]
		if !present {
			continue
		}
		t, ok := numericClaim(v)
		if !ok || t > nowS+skew {
			return badTime(name)
		}
		start, hasStart = math.Min(start, t), true
	}
	if !hasStart {
		start = nowS
	}
	if exp-start > MaxAssertionLifetime.Seconds()+skew {
		return newErr(http.StatusUnauthorized, "invalid_client", codeAssertionTime,
			"Client assertion is valid for too long: %s, more than the maximum of %s. Sign assertions valid for "+
				"minutes (Entra's clients use 10 minutes).%s", lifetimeText(exp-start), MaxAssertionLifetime, certDocs)
	}
	return nil
}

// lifetimeText prints a lifetime in seconds as a duration, or in days when
// it is longer than a duration can hold.
func lifetimeText(s float64) string {
	if s >= float64(math.MaxInt64)/1e9 {
		return strconv.FormatFloat(s/86400, 'f', 0, 64) + " days"
	}
	return time.Duration(s * 1e9).Round(time.Second).String()
}

// badTime reports an implausible exp, nbf or iat claim.
func badTime(name string) *Error {
	return newErr(http.StatusUnauthorized, "invalid_client", codeInvalidJWT,
		"Invalid JWT token. The client assertion's '%s' claim is not a plausible time: it must be a number of "+
			"seconds since 1970, and nbf and iat may not lie in the future.", name)
}

// numericClaim reads a JSON number of seconds (integer or float), refusing
// NaN, infinities, negative values and values past the year 30000, which
// would overflow time arithmetic.
func numericClaim(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	const year30000 = 884541340800
	return f, !math.IsNaN(f) && f >= 0 && f < year30000
}
