package interop_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/appcred/appcred"
	"github.com/appcred/appcred/azadapt"
)

// stubUnavailable is a source that is never available, the way an
// azidentity credential without its configuration answers.
type stubUnavailable struct{}

func (stubUnavailable) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, azidentity.NewCredentialUnavailableError("stub: not configured")
}

// chainSources are the credentials the chain tests combine, all against the
// fixture's authority.
type chainSources struct {
	f           *fixture
	azSecret    azcore.TokenCredential // azidentity, available
	unavailable *appcred.WorkloadIdentityCredential
	appSecret   *appcred.ClientSecretCredential // appcred, available
}

func newChainSources(t *testing.T) chainSources {
	t.Helper()
	f := startAuthority(t)
	hc, _ := f.countingClient(t)
	az, err := azidentity.NewClientSecretCredential(f.seed.TenantID, f.seed.ClientID, f.seed.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{DisableInstanceDiscovery: true, ClientOptions: azcore.ClientOptions{
			Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: f.a.URL() + "/"}, Transport: hc}})
	if err != nil {
		t.Fatal(err)
	}
	co := appcred.CredentialOptions{AuthorityHost: f.a.URL(), CACertificates: f.a.CACertPEM()}
	// Configured, but its federated token file does not exist (yet): unavailable at GetToken.
	wi, err := appcred.NewWorkloadIdentityCredential(&appcred.WorkloadIdentityCredentialOptions{CredentialOptions: co,
		TenantID: f.seed.TenantID, ClientID: f.seed.ClientID, TokenFilePath: filepath.Join(t.TempDir(), "missing")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wi.Close() })
	sc, err := appcred.NewClientSecretCredential(f.seed.TenantID, f.seed.ClientID, f.seed.ClientSecret,
		&appcred.ClientSecretCredentialOptions{CredentialOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	return chainSources{f: f, azSecret: az, unavailable: wi, appSecret: sc}
}

func (s chainSources) token(t *testing.T, sources ...azcore.TokenCredential) (azcore.AccessToken, error) {
	t.Helper()
	chain, err := azidentity.NewChainedTokenCredential(sources, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return chain.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{s.f.seed.Scope}})
}

// TestChainAppcredFirst: an unavailable appcred credential first in
// azidentity's ChainedTokenCredential lets the chain go on to the next source
// once wrapped by azadapt; unwrapped, it stops the chain (the problem azadapt solves).
func TestChainAppcredFirst(t *testing.T) {
	s := newChainSources(t)
	tok, err := s.token(t, azadapt.Wrap(s.unavailable), s.azSecret)
	if err != nil {
		t.Fatalf("chain with the wrapped unavailable appcred credential first: %v", err)
	}
	s.f.checkToken(t, tok.Token, want{clientID: s.f.seed.ClientID, resource: "v2", acr: "1"})

	if _, err := s.token(t, s.unavailable, s.azSecret); err == nil {
		t.Error("unwrapped, the unavailable appcred credential did not stop the chain: azadapt may be unneeded now")
	}

	// A credential that could not be built (no tenant) is skipped too.
	first, err := azadapt.Chainable(appcred.NewClientSecretCredential("", s.f.seed.ClientID, "x", nil))
	if err != nil {
		t.Fatalf("Chainable: %v", err)
	}
	if _, err := s.token(t, first, s.azSecret); err != nil {
		t.Errorf("chain with an unconstructible appcred credential first: %v", err)
	}
}

// TestChainAppcredLast: appcred last in the chain serves the token after an
// unavailable source; when it is unavailable too, the chain as a whole is
// unavailable, so an outer chain falls through it.
func TestChainAppcredLast(t *testing.T) {
	s := newChainSources(t)
	tok, err := s.token(t, stubUnavailable{}, azadapt.Wrap(s.appSecret))
	if err != nil {
		t.Fatalf("chain with appcred last: %v", err)
	}
	s.f.checkToken(t, tok.Token, want{clientID: s.f.seed.ClientID, resource: "v2", acr: "1"})

	inner, err := azidentity.NewChainedTokenCredential([]azcore.TokenCredential{stubUnavailable{}, azadapt.Wrap(s.unavailable)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err = s.token(t, inner, s.azSecret)
	if err != nil {
		t.Fatalf("outer chain did not fall through an inner chain ending in an unavailable appcred credential: %v", err)
	}
	s.f.checkToken(t, tok.Token, want{clientID: s.f.seed.ClientID, resource: "v2", acr: "1"})
}

// TestChainAuthenticationFailureStops: a refused appcred request is not
// "unavailable": the chain stops there with the authority's error, as it does
// for azidentity's own credentials.
func TestChainAuthenticationFailureStops(t *testing.T) {
	s := newChainSources(t)
	bad, err := appcred.NewClientSecretCredential(s.f.seed.TenantID, s.f.seed.ClientID, "wrong-secret",
		&appcred.ClientSecretCredentialOptions{CredentialOptions: appcred.CredentialOptions{
			AuthorityHost: s.f.a.URL(), CACertificates: s.f.a.CACertPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	_, err = s.token(t, azadapt.Wrap(bad), s.azSecret)
	if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("err %v, want the chain to stop with the invalid-secret error", err)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Error("the chain's error shows the secret")
	}

	// The wrapped error still answers errors.As for appcred's own type.
	_, err = azadapt.Wrap(s.unavailable).GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"api://x/.default"}})
	var u *appcred.CredentialUnavailableError
	if !errors.As(err, &u) || u.Credential != "WorkloadIdentityCredential" {
		t.Errorf("err %v: want an *appcred.CredentialUnavailableError inside", err)
	}
}
