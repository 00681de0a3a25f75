package pki_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/appcred/appcred/sts/pki"
)

func TestKeysEnsureRotateAndJWKS(t *testing.T) {
	dir := t.TempDir()
	if _, err := pki.ReadKeys(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadKeys without a keys folder: %v, want ErrNotExist", err)
	}
	first, err := pki.EnsureKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := pki.EnsureKeys(dir)
	if err != nil || len(first.Keys) != 1 || len(again.Keys) != 1 || again.Current().KID != first.Current().KID {
		t.Fatalf("EnsureKeys twice: %v, %d then %d keys", err, len(first.Keys), len(again.Keys))
	}
	k, err := pki.RotateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	set, err := pki.ReadKeys(dir)
	if err != nil || len(set.Keys) != 2 || set.Current().KID != k.KID || set.ByKID(first.Current().KID) == nil {
		t.Fatalf("after RotateKey: %v, keys %+v", err, set.Info())
	}
	if info := set.Info(); info[0].Current || !info[1].Current {
		t.Errorf("Info %+v: only the newest is current", info)
	}
	var jwks struct {
		Keys []struct {
			KID    string `json:"kid"`
			Issuer string `json:"issuer"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(set.JWKS("https://x/{tenantid}/v2.0"), &jwks); err != nil {
		t.Fatal(err)
	}
	if len(jwks.Keys) != 2 || jwks.Keys[0].KID != k.KID || jwks.Keys[0].Issuer != "https://x/{tenantid}/v2.0" {
		t.Errorf("JWKS %+v: newest first, with the issuer", jwks)
	}
}

func TestLoadTLSReusesAndChecksPairs(t *testing.T) {
	dir := t.TempDir()
	a, err := pki.LoadTLS(dir, "", "", []string{"Auth.Example"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := pki.LoadTLS(dir, "", "", []string{"auth.example"})
	if err != nil || !bytes.Equal(a.CAPEM, b.CAPEM) || b.ReissueReason != "" {
		t.Fatalf("second LoadTLS: %v, same CA %t, reason %q", err, bytes.Equal(a.CAPEM, b.CAPEM), b.ReissueReason)
	}
	if err := b.Cert.Leaf.VerifyHostname("auth.example"); err != nil {
		t.Error(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, pki.CAKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v, mode %v", pki.CAKeyFile, err, fi.Mode())
	}
	if err := os.WriteFile(filepath.Join(dir, pki.TLSKeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.LoadTLS(dir, "", "", nil); err == nil {
		t.Error("LoadTLS accepted a garbage key file")
	}
	if _, err := pki.LoadTLS(dir, filepath.Join(dir, pki.TLSCertFile), "", nil); err == nil {
		t.Error("LoadTLS accepted a certificate file without a key file")
	}
	if got := pki.ServerNames([]string{" Host.Example ", "localhost", ""}); len(got) != 4 || got[3] != "host.example" {
		t.Errorf("ServerNames %q", got)
	}
}
