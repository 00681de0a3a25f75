package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

func TestTokenJSONLikeAz(t *testing.T) {
	env := []string{"MY_SECRET=" + seed.ClientSecret, "TZ=Asia/Kolkata"}
	before := time.Now()
	// A resource, as az's --resource takes it: "/.default" is appended.
	r := mustRun(t, env, "", append([]string{"token", "--scope", seed.IdentifierURI, "--secret-env", "MY_SECRET"}, authorityFlags()...)...)
	var out struct {
		AccessToken string `json:"accessToken"`
		ExpiresOn   string `json:"expiresOn"`
		ExpiresOnTS int64  `json:"expires_on"`
		TokenType   string `json:"tokenType"`
		Tenant      string `json:"tenant"`
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("token JSON: %v\n%s", err, r.stdout)
	}
	wantAppToken(t, out.AccessToken, "1")
	if out.TokenType != "Bearer" || out.Tenant != seed.TenantID {
		t.Errorf("tokenType %q tenant %q, want Bearer %s", out.TokenType, out.Tenant, seed.TenantID)
	}
	exp := time.Unix(out.ExpiresOnTS, 0)
	if exp.Before(before.Add(50*time.Minute)) || exp.After(time.Now().Add(2*time.Hour)) {
		t.Errorf("expires_on %v is not about an hour from now", exp)
	}
	if c := claims(t, out.AccessToken); int64(c["exp"].(float64)) != out.ExpiresOnTS {
		t.Errorf("expires_on %d, token exp %v", out.ExpiresOnTS, c["exp"])
	}
	// expiresOn is local time (the binary ran with TZ=Asia/Kolkata) with microseconds, as az prints it.
	loc, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no time zone database (install tzdata), needed under CI=true:", err)
		}
		t.Skip("no time zone database:", err)
	}
	local, err := time.ParseInLocation("2006-01-02 15:04:05.000000", out.ExpiresOn, loc)
	if err != nil {
		t.Fatalf("expiresOn %q: %v", out.ExpiresOn, err)
	}
	if local.Unix() != out.ExpiresOnTS {
		t.Errorf("expiresOn %q is %d in Asia/Kolkata, expires_on is %d", out.ExpiresOn, local.Unix(), out.ExpiresOnTS)
	}
}

func TestTokenRawAndHeader(t *testing.T) {
	env := []string{"MY_SECRET=" + seed.ClientSecret}
	base := append([]string{"token", "--scope", seed.Scope, "--secret-env", "MY_SECRET"}, authorityFlags()...)

	raw := mustRun(t, env, "", append(base, "--output", "raw")...)
	if strings.Count(raw.stdout, "\n") != 1 || !strings.HasSuffix(raw.stdout, "\n") {
		t.Fatalf("raw output is not one line:\n%s", raw.stdout)
	}
	wantAppToken(t, raw.stdout, "1")

	hdr := mustRun(t, env, "", append(base, "-o", "header")...)
	tok, ok := strings.CutPrefix(strings.TrimSuffix(hdr.stdout, "\n"), "Authorization: Bearer ")
	if !ok || strings.ContainsAny(tok, " \n") {
		t.Fatalf("header output is not one Authorization header:\n%s", hdr.stdout)
	}
	wantAppToken(t, tok, "1")

	mustFail(t, env, append(base, "--output", "yaml"), `--output "yaml"`, "json, raw, header")
}

func TestTokenFromAzureEnvironment(t *testing.T) {
	env := []string{
		"AZURE_TENANT_ID=" + seed.TenantID,
		"AZURE_CLIENT_ID=" + seed.ClientID,
		"AZURE_CLIENT_SECRET=" + seed.ClientSecret,
		"AZURE_AUTHORITY_HOST=" + auth.URL(),
	}
	r := mustRun(t, env, "", "token", "--scope", seed.Scope, "--ca-file", auth.CAFile(), "-o", "raw")
	wantAppToken(t, r.stdout, "1")

	// Flags win over the environment: a wrong AZURE_CLIENT_ID is not used.
	env2 := append([]string{}, env...)
	env2[1] = "AZURE_CLIENT_ID=00000000-0000-0000-0000-000000000000"
	r = mustRun(t, env2, "", "token", "--scope", seed.Scope, "--ca-file", auth.CAFile(), "-o", "raw", "--client-id", seed.ClientID)
	wantAppToken(t, r.stdout, "1")
}

func TestTokenGenericIssuer(t *testing.T) {
	issuer := auth.TenantURL(seed.TenantID) + "/v2.0"
	r := mustRun(t, []string{"S=" + seed.ClientSecret}, "", "token", "--issuer", issuer, "--client-id", seed.ClientID,
		"--secret-env", "S", "--scope", seed.Scope, "--ca-file", auth.CAFile())
	var out map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if _, ok := out["tenant"]; ok {
		t.Errorf("a generic issuer has no tenant, got %v", out["tenant"])
	}
	wantAppToken(t, out["accessToken"].(string), "1")
}

func TestTokenErrors(t *testing.T) {
	wrong := "Wr0ng~secret.value-" + seed.TenantID[:8]
	secretsInPlay = append(secretsInPlay, wrong)
	full := authorityFlags()
	noCA := []string{"--tenant", seed.TenantID, "--client-id", seed.ClientID, "--authority-host", auth.URL()}
	cases := []struct {
		name  string
		env   []string
		args  []string
		wants []string
	}{
		{"no scope", []string{"S=" + seed.ClientSecret}, append([]string{"token", "--secret-env", "S"}, full...),
			[]string{"no scope", "--scope"}},
		{"missing secret variable", nil, append([]string{"token", "--scope", seed.Scope, "--secret-env", "MISSING_SECRET_VAR"}, full...),
			[]string{"no client secret", "MISSING_SECRET_VAR", "not set"}},
		{"empty secret variable", []string{"EMPTY_VAR="}, append([]string{"token", "--scope", seed.Scope, "--secret-env", "EMPTY_VAR"}, full...),
			[]string{"EMPTY_VAR", "empty"}},
		{"secret value given as the variable name", nil, append([]string{"token", "--scope", seed.Scope, "--secret-env", wrong}, full...),
			[]string{"--secret-env takes the NAME"}},
		{"no credential at all", nil, append([]string{"token", "--scope", seed.Scope}, full...),
			[]string{"no client secret or certificate", "--secret-env", "AZURE_CLIENT_SECRET", "--certificate"}},
		{"no client id", []string{"S=x"}, []string{"token", "--scope", seed.Scope, "--secret-env", "S", "--tenant", seed.TenantID},
			[]string{"no client id", "--client-id", "AZURE_CLIENT_ID"}},
		{"no tenant", []string{"S=x"}, []string{"token", "--scope", seed.Scope, "--secret-env", "S", "--client-id", seed.ClientID},
			[]string{"no tenant", "--tenant", "AZURE_TENANT_ID"}},
		{"unreadable certificate", nil, append([]string{"token", "--scope", seed.Scope, "--certificate", "/nonexistent/creds/combined.pem"}, full...),
			[]string{"/nonexistent/creds/combined.pem"}},
		{"unreadable CA file", []string{"S=x"}, []string{"token", "--scope", seed.Scope, "--secret-env", "S", "--tenant", "t",
			"--client-id", "c", "--ca-file", "/nonexistent/ca.pem"}, []string{"--ca-file", "/nonexistent/ca.pem"}},
		{"secret and certificate", []string{"S=x"}, append([]string{"token", "--scope", seed.Scope, "--secret-env", "S", "--certificate", "f"}, full...),
			[]string{"secret-env", "certificate"}},
		{"wrong secret", []string{"S=" + wrong}, append([]string{"token", "--scope", seed.Scope, "--secret-env", "S"}, full...),
			[]string{"AADSTS7000215"}},
		{"untrusted local CA", []string{"S=" + seed.ClientSecret}, append([]string{"token", "--scope", seed.Scope, "--secret-env", "S"}, noCA...),
			[]string{"unknown authority", "--ca-file"}},
		{"tenant with issuer", []string{"S=x"}, []string{"token", "--scope", "s", "--secret-env", "S", "--client-id", "c",
			"--issuer", auth.URL(), "--tenant", "t"}, []string{"--tenant", "--issuer"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := mustFail(t, c.env, c.args, c.wants...)
			if r.stdout != "" {
				t.Errorf("a failing token command printed to stdout:\n%s", r.stdout)
			}
			if strings.Contains(r.stderr, wrong) {
				t.Errorf("stderr repeats the value given to --secret-env:\n%s", r.stderr)
			}
		})
	}
}

func TestResourceToScope(t *testing.T) {
	for in, want := range map[string]string{
		"https://graph.microsoft.com":          "https://graph.microsoft.com/.default",
		"https://management.core.windows.net/": "https://management.core.windows.net//.default", // as az does
		"api://orders/.default":                "api://orders/.default",
		"00000003-0000-0000-c000-000000000000": "00000003-0000-0000-c000-000000000000/.default",
		"https://vault.azure.net/.default":     "https://vault.azure.net/.default",
	} {
		if got := resourceToScope(in); got != want {
			t.Errorf("resourceToScope(%q) = %q, want %q", in, got, want)
		}
	}
}
