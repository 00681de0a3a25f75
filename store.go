package appcred

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/appcred/appcred/cache"
)

// PurgeStore deletes from s the tokens of clientID (every client's when
// clientID is empty) and returns how many keys it deleted. s must
// implement [cache.Lister] (the file and Redis stores do), since tokens
// another process wrote are not in this process's memory. Errors name the
// store's failure, never a token.
func PurgeStore(ctx context.Context, s cache.Store, clientID string) (int, error) {
	l, ok := s.(cache.Lister)
	if !ok {
		return 0, fmt.Errorf("cache store %T cannot list its keys (it does not implement cache.Lister)", s)
	}
	keys, err := l.Keys(ctx)
	if err != nil {
		return 0, fmt.Errorf("list the cache store: %w", err)
	}
	prefix, exact := "", ""
	if clientID != "" { // keys of Entra/AD FS (case-folded) and generic issuers (exact)
		prefix, exact = cache.ClientPrefix(clientID), cache.ExactClientPrefix(clientID)
	}
	n := 0
	var errs []error
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) && (exact == "" || !strings.HasPrefix(k, exact)) {
			continue
		}
		if err := s.Delete(ctx, k); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
