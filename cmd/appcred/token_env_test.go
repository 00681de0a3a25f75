package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appcred/appcred"
	"github.com/appcred/appcred/proof"
)

// registeredAssertionFile registers a new certificate on the seed's daemon and
// writes a client assertion signed with it to a file, as a workload identity
// webhook writes a federated token: the local authority accepts it as the
// client assertion of the registered certificate.
func registeredAssertionFile(t *testing.T) (string, *proof.Certificate) {
	t.Helper()
	cert, err := proof.NewSelfSigned("CN=cli-federated", 0, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.AddCertificate(seed.TenantID, seed.ClientID, cert.CertPEM()); err != nil {
		t.Fatal(err)
	}
	assertion, err := cert.Assertion(seed.ClientID, auth.TokenEndpoint(seed.TenantID), proof.AssertionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(assertion+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, cert
}

// TestTokenFederatedTokenFile: "appcred token" reads AZURE_FEDERATED_TOKEN_FILE
// (and AZURE_REGIONAL_AUTHORITY_NAME) through the library's loader.
func TestTokenFederatedTokenFile(t *testing.T) {
	file, _ := registeredAssertionFile(t)
	env := []string{
		appcred.EnvTenantID + "=" + seed.TenantID,
		appcred.EnvClientID + "=" + seed.ClientID,
		appcred.EnvAuthorityHost + "=" + auth.URL(),
		appcred.EnvFederatedTokenFile + "=" + file,
	}
	args := []string{"token", "--scope", seed.Scope, "--ca-file", auth.CAFile(), "-o", "raw"}
	// A client assertion authenticates like a certificate (azpacr 2).
	wantAppToken(t, mustRun(t, env, "", args...).stdout, "2")

	// A region applies to Microsoft hosts only: the local authority is still asked directly.
	wantAppToken(t, mustRun(t, append(env, appcred.EnvRegionalAuthorityName+"=westus2"), "", args...).stdout, "2")
	// An invalid region is refused, naming it: the variable is read.
	mustFail(t, append(env, appcred.EnvRegionalAuthorityName+"=west us 2!"), args, "west us 2!")

	// The secret comes first, as in EnvironmentCredential.
	wantAppToken(t, mustRun(t, append(env, appcred.EnvClientSecret+"="+seed.ClientSecret), "", args...).stdout, "1")

	// The file is what is sent: an empty one is refused, naming the file.
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	mustFail(t, append(env[:3:3], appcred.EnvFederatedTokenFile+"="+empty), args, "federated token file", empty, "empty")
}

// TestTokenSameMessagesAsEnvironmentCredential: for a misconfigured
// environment, "appcred token" reports exactly what NewEnvironmentCredential
// reports.
func TestTokenSameMessagesAsEnvironmentCredential(t *testing.T) {
	dir := t.TempDir()
	cert, err := proof.NewSelfSigned("CN=cli-env-errors", 0, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const pfxPassword = "pfx-pass-3141"
	secretsInPlay = append(secretsInPlay, pfxPassword)
	pfx, err := cert.PFX(pfxPassword)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := cert.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	pfxFile, pemFile, notCert := filepath.Join(dir, "c.pfx"), filepath.Join(dir, "c.pem"), filepath.Join(dir, "not-a-cert")
	for file, data := range map[string][]byte{pfxFile: pfx, pemFile: append(cert.CertPEM(), keyPEM...), notCert: []byte("hello")} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, vars := range map[string]map[string]string{
		"bad chain flag":           {appcred.EnvClientCertificatePath: pemFile, appcred.EnvClientSendCertificateChain: "yes please"},
		"missing certificate":      {appcred.EnvClientCertificatePath: filepath.Join(dir, "missing.pem")},
		"PFX without password":     {appcred.EnvClientCertificatePath: pfxFile},
		"PFX wrong password":       {appcred.EnvClientCertificatePath: pfxFile, appcred.EnvClientCertificatePassword: "wrong-pass-2718"},
		"not a certificate":        {appcred.EnvClientCertificatePath: notCert},
		"chain flag checked first": {appcred.EnvClientCertificatePath: notCert, appcred.EnvClientSendCertificateChain: "2"},
	} {
		t.Run(name, func(t *testing.T) {
			vars[appcred.EnvTenantID], vars[appcred.EnvClientID], vars[appcred.EnvAuthorityHost] = seed.TenantID, seed.ClientID, auth.URL()
			for _, kv := range os.Environ() {
				if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AZURE_") {
					t.Setenv(k, "")
					_ = os.Unsetenv(k)
				}
			}
			var env []string
			for k, v := range vars {
				t.Setenv(k, v)
				env = append(env, k+"="+v)
			}
			_, libErr := appcred.NewEnvironmentCredential(&appcred.EnvironmentCredentialOptions{})
			if libErr == nil {
				t.Fatal("NewEnvironmentCredential accepted the configuration")
			}
			r := mustFail(t, env, []string{"token", "--scope", seed.Scope, "--ca-file", auth.CAFile()}, libErr.Error())
			if strings.Contains(r.stderr, "wrong-pass-2718") {
				t.Errorf("the password appears in the error:\n%s", r.stderr)
			}
		})
	}
}

// TestTokenEnvironmentCertificateWithPasswordFlag: the certificate from
// AZURE_CLIENT_CERTIFICATE_PATH, its password from --certificate-password-env
// (which wins over AZURE_CLIENT_CERTIFICATE_PASSWORD).
func TestTokenEnvironmentCertificateWithPasswordFlag(t *testing.T) {
	_, cert := registeredAssertionFile(t)
	const pw = "pfx-pass-1618"
	secretsInPlay = append(secretsInPlay, pw)
	pfx, err := cert.PFX(pw)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "c.pfx")
	if err := os.WriteFile(file, pfx, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		appcred.EnvTenantID + "=" + seed.TenantID,
		appcred.EnvClientID + "=" + seed.ClientID,
		appcred.EnvAuthorityHost + "=" + auth.URL(),
		appcred.EnvClientCertificatePath + "=" + file,
		appcred.EnvClientCertificatePassword + "=not-the-password",
		appcred.EnvClientSendCertificateChain + "=1",
		"MY_PFX_PASSWORD=" + pw,
	}
	args := []string{"token", "--scope", seed.Scope, "--ca-file", auth.CAFile(), "-o", "raw"}
	mustFail(t, env, args, "failed to parse certificate file", file)
	wantAppToken(t, mustRun(t, env, "", append(args, "--certificate-password-env", "MY_PFX_PASSWORD")...).stdout, "2")
}
