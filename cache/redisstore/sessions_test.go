package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/cache/redisstore"
	"github.com/appcred/appcred/cache/storetest"
)

// A session lives for SessionTTL (90 days by default) from its last write,
// under the session namespace, never in clear when the store has a key.
func TestSessionTTL(t *testing.T) {
	srv := startRedis(t)
	ctx := context.Background()
	for _, ttl := range []time.Duration{0, time.Hour} {
		s := newStore(t, srv, redisstore.Options{SessionTTL: ttl, Prefix: "ttl" + ttl.String() + ":"})
		key := storetest.SessionKeys()[0]
		if err := s.PutSession(ctx, key, storetest.NewSession()); err != nil {
			t.Fatal(err)
		}
		got, err := srv.client(t).TTL(ctx, "ttl"+ttl.String()+":s:"+key).Result()
		want := ttl
		if want == 0 {
			want = redisstore.DefaultSessionTTL
		}
		if err != nil || got > want || got < want-time.Minute {
			t.Errorf("SessionTTL %v: the session's TTL is %v (%v), want %v", ttl, got, err, want)
		}
	}
	if redisstore.DefaultSessionTTL != 90*24*time.Hour {
		t.Errorf("DefaultSessionTTL = %v", redisstore.DefaultSessionTTL)
	}
	if err := newStore(t, srv, redisstore.Options{}).PutSession(ctx, storetest.Keys()[0], storetest.NewSession()); err == nil ||
		!strings.Contains(err.Error(), "obo-rt") {
		t.Errorf("PutSession under a token key: %v, want an error naming the session kind", err)
	}
}
