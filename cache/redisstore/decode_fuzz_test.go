package redisstore

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/appcred/appcred/cache"
	"github.com/appcred/appcred/internal/seal"
)

// FuzzDecode feeds stored Redis values, plain and AES-GCM sealed, to the
// store's decoder: no panic; an error is the store's own and never quotes
// the value; a sealed store accepts only sealed values; an accepted token is
// live and survives a round trip through Put's encoding.
func FuzzDecode(f *testing.F) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled: decode makes no call
	f.Cleanup(func() { _ = c.Close() })
	plain, err := New(c, Options{})
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := New(c, Options{Key: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		f.Fatal(err)
	}
	live, _ := json.Marshal(cache.Token{AccessToken: "tok-value-123456", TokenType: "Bearer",
		ExpiresOn: time.Now().Add(24 * time.Hour), RefreshOn: time.Now().Add(time.Hour)})
	old, _ := json.Marshal(cache.Token{AccessToken: "tok", ExpiresOn: time.Now().Add(-time.Hour)})
	for _, s := range [][]byte{live, old, sealed.sealer.Seal(live), sealed.sealer.Seal([]byte("{}")), []byte(`{}`),
		[]byte(`{"access_token":""}`), []byte("null"), nil, []byte("garbage"), sealed.sealer.Seal(live)[:20]} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw []byte, useSealed bool) {
		s := plain
		if useSealed {
			s = sealed
		}
		tok, err := s.decode(raw)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "redisstore: ") || len(raw) >= 12 && strings.Contains(msg, string(raw)) {
				t.Fatalf("error %q is not the store's or quotes the value", msg)
			}
			return
		}
		if tok == nil {
			return // expired: a miss
		}
		if tok.AccessToken == "" || !time.Now().Before(tok.ExpiresOn) || useSealed && !seal.IsSealed(raw) {
			t.Fatalf("accepted token %+v", tok)
		}
		enc, err := json.Marshal(tok)
		if err != nil {
			t.Fatal(err)
		}
		if s.sealer != nil {
			enc = s.sealer.Seal(enc)
		}
		again, err := s.decode(enc)
		if err != nil || again == nil || again.AccessToken != tok.AccessToken || !again.ExpiresOn.Equal(tok.ExpiresOn) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, tok)
		}
	})
}

// FuzzDecodeSession feeds stored session values, plain and sealed, to the
// session decoder: no panic; an error is the store's own and never quotes
// the value; a sealed store accepts only sealed values; an accepted session
// has a refresh token and survives a round trip through PutSession's
// encoding.
func FuzzDecodeSession(f *testing.F) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	f.Cleanup(func() { _ = c.Close() })
	plain, _ := New(c, Options{})
	sealed, _ := New(c, Options{Key: bytes.Repeat([]byte{7}, 32)})
	good, _ := json.Marshal(cache.Session{RefreshToken: "rt-value-1234567", HomeAccountID: "u.t", Username: "a@t"})
	for _, s := range [][]byte{good, sealed.sealer.Seal(good), []byte(`{"refresh_token":""}`), []byte(`{}`),
		[]byte("null"), nil, []byte("garbage"), []byte(`{"access_token":"x"}`)} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw []byte, useSealed bool) {
		s := plain
		if useSealed {
			s = sealed
		}
		v, err := s.decodeSession(raw)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "redisstore: ") || len(raw) >= 12 && strings.Contains(msg, string(raw)) {
				t.Fatalf("error %q is not the store's or quotes the value", msg)
			}
			return
		}
		if v == nil || v.RefreshToken == "" || useSealed && !seal.IsSealed(raw) {
			t.Fatalf("accepted session %v", v)
		}
		enc, err := s.encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := s.decodeSession(enc); err != nil || *again != *v {
			t.Fatalf("round trip: %v, %v; want %v", again, err, v)
		}
	})
}
