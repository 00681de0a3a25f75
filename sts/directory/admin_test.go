package directory_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/proof"
	"github.com/appcred/appcred/sts/directory"
)

func TestAdminValidation(t *testing.T) {
	st, err := directory.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddApp("not-a-guid", directory.App{}); err == nil {
		t.Error("AddApp created a tenant with a non-GUID id")
	}
	tn, err := st.AddTenant("", "fabrikam.example")
	if err != nil {
		t.Fatal(err)
	}
	api, err := st.AddApp("fabrikam.example", directory.App{IdentifierURIs: []string{"api://x"}, AppRoles: []string{"R"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddApp(tn.ID, directory.App{ClientID: api.ClientID}); err == nil {
		t.Error("the same client id was registered twice")
	}
	if _, err := st.AddApp(tn.ID, directory.App{IdentifierURIs: []string{"api://x/"}}); err == nil {
		t.Error("two apps share an identifier URI")
	}
	if err := st.Grant(tn.ID, api.ClientID, "api://x", "Nope"); err == nil {
		t.Error("granted a role the resource does not have")
	}
	if err := st.Grant(tn.ID, api.ClientID, "api://missing", "R"); err == nil {
		t.Error("granted a role on a resource that does not exist")
	}
	if _, err := st.AddCertificate(tn.ID, api.ClientID, []byte("not a certificate")); err == nil {
		t.Error("registered garbage as a certificate")
	}
	if _, err := st.AddSecret(tn.ID, "nosuch"); err == nil {
		t.Error("added a secret to a missing app")
	}
	good, err := proof.NewSelfSigned("CN=daemon", 24*time.Hour, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := st.AddCertificate(tn.ID, api.ClientID, good.CertPEM())
	if err != nil {
		t.Fatal(err)
	}
	if len(ci.Thumbprint) != 40 || ci.Thumbprint != strings.ToUpper(ci.Thumbprint) || ci.X5T == "" || ci.X5TS256 == "" {
		t.Errorf("cert info %+v", ci)
	}
	if _, err := st.AddApp("", directory.App{}); err != nil {
		t.Errorf("AddApp with the only tenant: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(st.Dir(), "directory.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("directory.json: %v, mode %v", err, fi.Mode())
	}
}

func TestSecretNeverPrintsValue(t *testing.T) {
	st, err := directory.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddTenant(""); err != nil {
		t.Fatal(err)
	}
	app, err := st.AddApp("", directory.App{DisplayName: "fmt"})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := st.AddSecret("", app.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if sec.Value == "" {
		t.Fatal("AddSecret returned no value")
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("made", "secret", sec)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("made", "secret", sec)
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", sec), "%+v": fmt.Sprintf("%+v", sec), "%#v": fmt.Sprintf("%#v", sec),
		"%s": fmt.Sprintf("%s", sec), "slog": logs.String(),
	} {
		if strings.Contains(out, sec.Value) {
			t.Errorf("%s shows the secret value: %s", name, out)
		}
		if !strings.Contains(out, sec.ID) {
			t.Errorf("%s lacks the secret id: %s", name, out)
		}
	}
	if gs := fmt.Sprintf("%#v", sec); !strings.Contains(gs, "[REDACTED]") {
		t.Errorf("%%#v = %s, want the value shown as [REDACTED]", gs)
	}
	// JSON keeps the value: the CLI shows it once that way.
	b, err := json.Marshal(sec)
	if err != nil || !strings.Contains(string(b), `"secret":"`+sec.Value+`"`) {
		t.Errorf("JSON %s (%v) lacks the secret value", b, err)
	}
}
