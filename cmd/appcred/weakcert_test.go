package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/sts"
)

// TestAuthorityCertAddRefusesWeakRSA: "authority cert add" refuses a
// certificate whose RSA key is under 2048 bits, as "cert new" does.
func TestAuthorityCertAddRefusesWeakRSA(t *testing.T) {
	state := t.TempDir()
	a, err := sts.Open(sts.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	clientID := a.Seed().ClientID
	_ = a.Close()
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "weak"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "weak.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := newAuthorityCmd()
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"cert", "add", "--state", state, "--app", clientID, "--cert", file})
	err = cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "1024-bit") {
		t.Errorf("cert add of a 1024-bit certificate: %v, want an error naming the key size", err)
	}
}
