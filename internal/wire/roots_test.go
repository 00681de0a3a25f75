package wire

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The extra-CA client verifies as crypto/tls does: the chain to the roots and
// the server's name, with the pool built on the first handshake.
func TestDefaultHTTPClientVerifiesWithExtraCAs(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	ok := DefaultHTTPClient(ca)
	resp, err := ok.Get(srv.URL) // 127.0.0.1 is in the test certificate
	if err != nil {
		t.Fatalf("trusted CA, right name: %v", err)
	}
	_ = resp.Body.Close()

	// localhost is not one of the certificate's names.
	if _, err := ok.Get(strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)); err == nil ||
		!strings.Contains(err.Error(), "certificate is valid for") {
		t.Fatalf("wrong name accepted or misreported: %v", err)
	}
	// Another CA does not vouch for the server.
	other := httptest.NewUnstartedServer(http.NotFoundHandler())
	other.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	other.StartTLS()
	defer other.Close()
	if _, err := DefaultHTTPClient(ca).Get(other.URL); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("untrusted server accepted or misreported: %v", err)
	}
}

// selfSigned is a certificate for 127.0.0.1 that no CA vouches for.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
