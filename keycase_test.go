package appcred

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/authority"
	"github.com/appcred/appcred/cache"
)

// Two clients of one generic issuer whose ids differ only in case are
// different clients (the issuer compares ids exactly): their cache keys must
// differ, so a shared store never hands one the other's token. At Entra the
// ids are GUIDs, compared case-insensitively.
func TestKeyPrefixClientIDCase(t *testing.T) {
	generic := authority.Info{Kind: authority.Generic, Host: "idp.example", Issuer: "https://idp.example/"}
	if a, b := keyPrefix("MyApp", generic).String(), keyPrefix("myapp", generic).String(); a == b {
		t.Errorf("generic issuer: MyApp and myapp share the key prefix %q", a)
	}
	entra := authority.Info{Kind: authority.Entra, Host: "login.microsoftonline.com", Tenant: "contoso"}
	id := "0f8fad5b-d9cb-469f-a165-70867728950e"
	if a, b := keyPrefix(id, entra).String(), keyPrefix("0F8FAD5B-D9CB-469F-A165-70867728950E", entra).String(); a != b {
		t.Errorf("Entra: the same GUID in two cases got prefixes %q and %q", a, b)
	}
}

// WithCacheMaxEntries reaches the client's cache; 0 is refused by name.
func TestWithCacheMaxEntries(t *testing.T) {
	if _, err := New("https://login.microsoftonline.com/contoso", "client", FromSecret("s3cret-value-long"), WithCacheMaxEntries(0)); err == nil || !strings.Contains(err.Error(), "WithCacheMaxEntries") {
		t.Fatalf("WithCacheMaxEntries(0): err = %v", err)
	}
	c, err := New("https://login.microsoftonline.com/contoso", "client", FromSecret("s3cret-value-long"), WithCacheMaxEntries(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		tok := &cache.Token{AccessToken: "t", ExpiresOn: time.Now().Add(time.Hour + time.Duration(i)*time.Minute)}
		if _, err := c.cache.Put(context.Background(), fmt.Sprintf("k%d", i), tok, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.cache.Len(); n != 1 {
		t.Fatalf("cache holds %d tokens with WithCacheMaxEntries(1)", n)
	}
}
