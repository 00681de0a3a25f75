package intercept

import (
	"crypto/x509"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		host string
		port int
		want Kind
	}{
		{"login.microsoftonline.com", 443, Identity},
		{"LOGIN.MICROSOFTONLINE.COM.", 443, Identity},
		{"login.windows.net", 443, Identity},
		{"sts.windows.net", 443, Identity},
		{"login.microsoft.com", 443, Identity},
		{"eastus.login.microsoft.com", 443, Identity},
		{"usgovvirginia.login.microsoftonline.us", 443, Identity},
		{"login.partner.microsoftonline.cn", 443, Identity},
		{"login.microsoftonline.de", 443, Identity},
		{"management.azure.com", 443, ARM},
		{"management.core.windows.net", 443, ARM},
		{"management.chinacloudapi.cn", 443, ARM},
		{"management.microsoftazure.de", 443, ARM},
		{"login.microsoftonline.com", 80, Refused},
		{"management.azure.com", 8443, Refused},
		{"westus.login.microsoftonline.com", 443, Refused}, // MSAL maps public regions to login.microsoft.com
		{"-bad.login.microsoft.com", 443, Refused},
		{"a.b.login.microsoft.com", 443, Refused},
		{"login.microsoftonline.com.evil.test", 443, Refused},
		{"evil-login.microsoftonline.com", 443, Refused},
		{"graph.microsoft.com", 443, Refused},
		{"example.com", 443, Refused},
		{"20.190.128.1", 443, Refused},
		{"", 443, Refused},
	} {
		if got := Classify(tc.host, tc.port); got != tc.want {
			t.Errorf("Classify(%q, %d) = %v, want %v", tc.host, tc.port, got, tc.want)
		}
	}
}

// TestCertificateHostsCoverEveryTunnelledHost checks that a certificate
// with CertificateHosts verifies for every host the proxy tunnels.
func TestCertificateHostsCoverEveryTunnelledHost(t *testing.T) {
	leaf := &x509.Certificate{DNSNames: CertificateHosts()}
	hosts := append(IdentityHosts(), ARMHosts()...)
	for _, p := range regionalParents {
		hosts = append(hosts, "westeurope."+p)
	}
	for _, h := range hosts {
		if Classify(h, 443) == Refused {
			t.Errorf("%s is not tunnelled", h)
		}
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("certificate with CertificateHosts does not cover %s: %v", h, err)
		}
	}
	seen := map[string]bool{}
	for _, n := range CertificateHosts() {
		if n != strings.ToLower(n) || seen[n] {
			t.Errorf("CertificateHosts: %q is not lower-case or appears twice", n)
		}
		seen[n] = true
	}
	// The lists are copies.
	IdentityHosts()[0] = "example.com"
	if Classify("example.com", 443) != Refused {
		t.Error("changing IdentityHosts' result changed the proxy")
	}
}

func TestKindString(t *testing.T) {
	if Identity.String() != "identity" || ARM.String() != "arm" || Refused.String() != "refused" {
		t.Error(Identity.String(), ARM.String(), Refused.String())
	}
}
