package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/appcred/appcred/proof"
)

// `appcred cert new --legacy-pfx` writes a PKCS#12 file that azidentity
// (golang.org/x/crypto/pkcs12) reads; the default modern file is one it cannot
// read, and appcred reads both.
func TestCertNewLegacyPFXForAzidentity(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "appcred")
	build := exec.Command("go", "build", "-o", bin, "./cmd/appcred")
	build.Dir = ".." // the library's own module, which holds the CLI
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the CLI: %v\n%s", err, out)
	}
	for _, legacy := range []bool{false, true} {
		dir := t.TempDir()
		args := []string{"cert", "new", "--subject", "CN=pfx", "--out", dir, "--password-env", "PW"}
		if legacy {
			args = append(args, "--legacy-pfx")
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "PW=pfx-pass-123")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("appcred %v: %v\n%s", args, err, out)
		}
		data, err := os.ReadFile(filepath.Join(dir, "cert.pfx"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := proof.LoadCertificate(data, []byte("pfx-pass-123")); err != nil {
			t.Fatalf("legacy=%v: appcred cannot read its own PFX: %v", legacy, err)
		}
		_, _, err = azidentity.ParseCertificates(data, []byte("pfx-pass-123"))
		if legacy && err != nil {
			t.Fatalf("azidentity cannot read the --legacy-pfx file: %v", err)
		}
		if !legacy && err == nil {
			t.Fatal("azidentity reads the modern PFX: --legacy-pfx may no longer be needed, update its help")
		}
	}
}
