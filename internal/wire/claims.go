package wire

import (
	"errors"
	"fmt"
)

// MaxClaimsBytes bounds the claims of a token request (16 KiB): claims come
// from resource servers' challenges, and real ones (CAE, authentication
// context) are a few hundred bytes.
const MaxClaimsBytes = 16 << 10

// ErrClaimsTooLarge means a claims request or challenge exceeds MaxClaimsBytes.
var ErrClaimsTooLarge = errors.New("claims too large")

// CheckClaimsSize returns an error wrapping ErrClaimsTooLarge, naming the
// size and the limit, when n bytes of claims exceed MaxClaimsBytes.
func CheckClaimsSize(n int) error {
	if n <= MaxClaimsBytes {
		return nil
	}
	return fmt.Errorf("%w: %d bytes, more than the %d-byte limit", ErrClaimsTooLarge, n, MaxClaimsBytes)
}
