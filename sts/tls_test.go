package sts_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appcred/appcred/sts"
)

func parseCA(t *testing.T, a *sts.Authority) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(a.CACertPEM())
	if b == nil {
		t.Fatal("CACertPEM is not PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// issueWithCA signs a server certificate for names with the CA in dir, as a
// thief of ca-key.pem could.
func issueWithCA(t *testing.T, dir string, dnsNames []string, ips []net.IP) *x509.Certificate {
	t.Helper()
	ca, err := tls.LoadX509KeyPair(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "x"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: dnsNames, IPAddresses: ips, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Leaf, key.Public(), ca.PrivateKey.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func verifies(c *x509.Certificate, roots *x509.CertPool) bool {
	_, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err == nil
}

func TestLocalCAIsNameConstrained(t *testing.T) {
	dir := t.TempDir()
	a, err := sts.Open(sts.Options{StateDir: dir, Hostnames: []string{"authority.test", "192.0.2.7"}})
	if err != nil {
		t.Fatal(err)
	}
	ca := parseCA(t, a)
	if !ca.PermittedDNSDomainsCritical || !slices.Equal(ca.PermittedDNSDomains, []string{"localhost", "authority.test"}) {
		t.Errorf("permitted DNS domains %v (critical %v)", ca.PermittedDNSDomains, ca.PermittedDNSDomainsCritical)
	}
	var ranges []string
	for _, r := range ca.PermittedIPRanges {
		ranges = append(ranges, r.String())
	}
	if !slices.Equal(ranges, []string{"127.0.0.0/8", "::1/128", "192.0.2.7/32"}) {
		t.Errorf("permitted IP ranges %v", ranges)
	}
	// The server certificate verifies; one for a foreign name, from the same CA key, does not.
	leaf := a.TLSConfig().Certificates[0].Leaf
	if !verifies(leaf, a.CAPool()) {
		t.Error("the server certificate does not verify under the constrained CA")
	}
	if c := issueWithCA(t, dir, []string{"api.authority.test", "localhost"}, []net.IP{net.ParseIP("127.0.0.9")}); !verifies(c, a.CAPool()) {
		t.Error("a certificate for names inside the constraints does not verify")
	}
	for _, bad := range []*x509.Certificate{
		issueWithCA(t, dir, []string{"login.microsoftonline.com"}, nil),
		issueWithCA(t, dir, []string{"localhost"}, []net.IP{net.ParseIP("10.0.0.1")}),
	} {
		if verifies(bad, a.CAPool()) {
			t.Errorf("a certificate for %v %v verifies: the CA is not constrained", bad.DNSNames, bad.IPAddresses)
		}
	}
}

func TestNewHostnameReissuesCA(t *testing.T) {
	dir := t.TempDir()
	a1, err := sts.Open(sts.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ca1 := parseCA(t, a1)
	// A name outside the CA's constraints: a new CA, with a warning, covering old and new names.
	var logs bytes.Buffer
	a2, err := sts.Start(context.Background(), sts.Options{StateDir: dir, Hostnames: []string{"other.test", "192.0.2.8"},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	ca2 := parseCA(t, a2)
	if ca2.Equal(ca1) || ca2.PublicKey.(*ecdsa.PublicKey).Equal(ca1.PublicKey) {
		t.Fatal("a hostname outside the CA's constraints did not give a new CA and key")
	}
	if !strings.Contains(logs.String(), "new local CA") || !strings.Contains(logs.String(), "other.test") ||
		!strings.Contains(logs.String(), filepath.Join(dir, "ca.pem")) {
		t.Errorf("no warning naming the new CA file and the hostname: %q", logs.String())
	}
	if onDisk, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); !bytes.Equal(onDisk, a2.CACertPEM()) {
		t.Error("ca.pem is not the new CA")
	}
	if !slices.Contains(ca2.PermittedDNSDomains, "localhost") || !slices.Contains(ca2.PermittedDNSDomains, "other.test") {
		t.Errorf("new CA permits %v", ca2.PermittedDNSDomains)
	}
	// The new name works end to end over TLS (dialled at the loopback listener).
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(a2.URL(), "https://"))
	hc := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: a2.CAPool()},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
		},
	}}
	defer hc.CloseIdleConnections()
	for _, host := range []string{"other.test", "192.0.2.8", "localhost"} {
		f := &fixture{a: a2, hc: hc}
		r := f.get(t, "https://"+net.JoinHostPort(host, port)+"/common/v2.0/.well-known/openid-configuration")
		if want := "https://" + net.JoinHostPort(host, port) + "/{tenantid}/v2.0"; r.status != http.StatusOK || r.body["issuer"] != want {
			t.Errorf("%s: status %d issuer %v", host, r.status, r.body["issuer"])
		}
	}
	// Fewer names, or a name below a permitted domain: the CA stays.
	for _, names := range [][]string{nil, {"api.other.test"}} {
		a3, err := sts.Open(sts.Options{StateDir: dir, Hostnames: names})
		if err != nil {
			t.Fatal(err)
		}
		if !parseCA(t, a3).Equal(ca2) {
			t.Errorf("hostnames %v: the CA changed", names)
		}
	}
}

func TestUnconstrainedCAIsReplaced(t *testing.T) {
	// A CA made before name constraints (none at all) is replaced by a constrained one.
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "old CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := sts.Open(sts.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if ca := parseCA(t, a); ca.Subject.CommonName == "old CA" || !ca.PermittedDNSDomainsCritical {
		t.Errorf("the unconstrained CA %q was kept", ca.Subject.CommonName)
	}
}

func TestConcurrentOpenOfNewState(t *testing.T) {
	// Processes starting together on a new state directory (here goroutines:
	// flock locks separate opens of the lock file against each other) end
	// with one CA, one signing key and one development tenant.
	dir := filepath.Join(t.TempDir(), "state")
	const n = 4
	var (
		wg      sync.WaitGroup
		gate    = make(chan struct{})
		handles [n]*sts.Authority
		errs    [n]error
	)
	for i := range n {
		wg.Go(func() {
			<-gate
			handles[i], errs[i] = sts.Open(sts.Options{StateDir: dir})
		})
	}
	close(gate)
	wg.Wait()
	seeds := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i, errs[i])
		}
		if handles[i].Seed() != nil {
			seeds++
		}
		if !bytes.Equal(handles[i].CACertPEM(), handles[0].CACertPEM()) {
			t.Errorf("Open %d has another CA", i)
		}
	}
	if seeds != 1 {
		t.Errorf("%d Opens seeded a development tenant, want 1", seeds)
	}
	tenants, err := handles[0].List()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := handles[0].Keys()
	if err != nil {
		t.Fatal(err)
	}
	if len(tenants) != 1 || len(keys) != 1 {
		t.Errorf("%d tenants and %d signing keys, want 1 and 1", len(tenants), len(keys))
	}
	// ca.pem and ca-key.pem are one pair, and they issued the server certificate.
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatalf("ca.pem and ca-key.pem do not match: %v", err)
	}
	if err := handles[n-1].TLSConfig().Certificates[0].Leaf.CheckSignatureFrom(pair.Leaf); err != nil {
		t.Errorf("the server certificate was not issued by ca.pem: %v", err)
	}
}
