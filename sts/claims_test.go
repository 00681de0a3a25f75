package sts_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appcred/appcred/sts"
	"github.com/appcred/appcred/sts/directory"
)

// claimsFixture adds to the standard fixture resources of both token versions
// with and without the xms_cc opt-in, each granting the seed daemon a role.
type claimsFixture struct {
	*fixture
	v1Opt, v1Plain, v2Opt, v2Plain string // identifier URIs
}

func startClaims(t *testing.T) *claimsFixture {
	t.Helper()
	f := &claimsFixture{fixture: start(t, sts.Options{})}
	tid := f.seed.TenantID
	add := func(uri string, version int, optional ...string) string {
		t.Helper()
		if _, err := f.a.AddApp(tid, directory.App{IdentifierURIs: []string{uri}, AppRoles: []string{"R"},
			AccessTokenVersion: version, OptionalClaims: optional}); err != nil {
			t.Fatal(err)
		}
		if err := f.a.Grant(tid, f.seed.ClientID, uri, "R"); err != nil {
			t.Fatal(err)
		}
		return uri
	}
	f.v1Opt = add("api://v1-opt", 1, "XMS_CC") // names are case-insensitive
	f.v1Plain = add("api://v1-plain", 1)
	f.v2Opt = f.seed.IdentifierURI // the dev seed's API opts in
	f.v2Plain = add("api://v2-plain", 2)
	return f
}

// token asks for a token for resource with claims (v2 endpoint with a scope,
// or v1 endpoint with resource=) and returns the response.
func (f *claimsFixture) token(t *testing.T, resource, claims string, v1 bool) *response {
	t.Helper()
	form := f.secretForm()
	endpoint := f.tokenURL()
	if v1 {
		form.Del("scope")
		form.Set("resource", resource)
		endpoint = f.a.TenantURL(f.seed.TenantID) + "/oauth2/token"
	} else {
		form.Set("scope", resource+"/.default")
	}
	if claims != "" {
		form.Set("claims", claims)
	}
	return f.post(t, endpoint, form)
}

// claimsOf asks for a token that must be issued and returns its verified claims.
func (f *claimsFixture) claimsOf(t *testing.T, resource, claims string, v1 bool) map[string]any {
	t.Helper()
	r := f.token(t, resource, claims, v1)
	if r.status != http.StatusOK {
		t.Fatalf("%s (v1 endpoint %v) with claims %s: status %d: %s", resource, v1, claims, r.status, r.raw)
	}
	c, err := f.a.VerifyToken(r.body["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func strList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

const (
	cp1Compact = `{"access_token":{"xms_cc":{"values":["CP1"]}}}`
	cp1Python  = `{"access_token": {"xms_cc": {"values": ["CP1"]}}}` // MSAL Python's json.dumps
)

func TestClientCapabilitiesNeedOptIn(t *testing.T) {
	f := startClaims(t)
	for _, tc := range []struct {
		resource, wantVer string
		optIn             bool
	}{
		{f.v2Opt, "2.0", true}, {f.v2Plain, "2.0", false}, {f.v1Opt, "1.0", true}, {f.v1Plain, "1.0", false},
	} {
		for _, claims := range []string{cp1Compact, cp1Python, `{"access_token":{"xms_cc":{"values":["cp1","Cp1"]}}}`} {
			for _, v1 := range []bool{false, true} {
				c := f.claimsOf(t, tc.resource, claims, v1)
				if c["ver"] != tc.wantVer {
					t.Errorf("%s: ver %v, want %s", tc.resource, c["ver"], tc.wantVer)
				}
				_, has := c["xms_cc"]
				switch {
				case tc.optIn && !slices.Equal(strList(c["xms_cc"]), []string{"cp1"}):
					t.Errorf("%s (v1 endpoint %v), claims %s: xms_cc %#v, want [\"cp1\"]", tc.resource, v1, claims, c["xms_cc"])
				case !tc.optIn && has:
					t.Errorf("%s did not opt in, but its token has xms_cc %v", tc.resource, c["xms_cc"])
				}
				if _, has := c["acrs"]; has {
					t.Errorf("%s: acrs %v without an acrs request", tc.resource, c["acrs"])
				}
			}
		}
		// Without a claims request, no xms_cc even for a resource that opted in.
		if c := f.claimsOf(t, tc.resource, "", false); c["xms_cc"] != nil {
			t.Errorf("%s: xms_cc %v without a claims request", tc.resource, c["xms_cc"])
		}
	}
	// Capabilities merged with a challenge, as MSAL Go and Python send them.
	c := f.claimsOf(t, f.v2Opt, `{"access_token":{"nbf":{"essential":true,"value":"1604106651"},"xms_cc":{"values":["CP1","llt"]}}}`, false)
	if got := strList(c["xms_cc"]); !slices.Equal(got, []string{"cp1", "llt"}) {
		t.Errorf("xms_cc %v, want [cp1 llt]", got)
	}
}

func TestAuthenticationContextClaims(t *testing.T) {
	f := startClaims(t)
	for _, tc := range []struct {
		claims string
		want   []string
	}{
		{`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`, []string{"c1"}},
		{`{"access_token":{"acrs":{"essential":true,"values":["c1","c25"]}}}`, []string{"c1", "c25"}},
		{`{"access_token": {"acrs": {"essential": true, "value": "c2", "values": ["c2", "c3"]}}}`, []string{"c2", "c3"}},
		{`{"access_token":{"acrs":{"essential":true,"value":"cp1"},"xms_cc":{"values":["cp1"]}}}`, []string{"cp1"}},
	} {
		for _, resource := range []string{f.v2Opt, f.v1Plain} {
			c := f.claimsOf(t, resource, tc.claims, false)
			if got := strList(c["acrs"]); !slices.Equal(got, tc.want) {
				t.Errorf("%s, claims %s: acrs %#v, want %v", resource, tc.claims, c["acrs"], tc.want)
			}
		}
	}
}

func TestNotBeforeClaimsChallenge(t *testing.T) {
	f := startClaims(t)
	now := time.Now().Unix()
	for _, value := range []string{
		`"1604106651"`,                            // the CAE example: long ago
		`"` + strconv.FormatInt(now, 10) + `"`,    // the revocation just happened
		`"` + strconv.FormatInt(now+60, 10) + `"`, // within the clock skew
		strconv.FormatInt(now-10, 10),             // a JSON number
	} {
		claims := `{"access_token":{"nbf":{"essential":true, "value":` + value + `}}}`
		for _, resource := range []string{f.v2Opt, f.v1Plain} {
			c := f.claimsOf(t, resource, claims, false)
			iat, nbf := int64(c["iat"].(float64)), int64(c["nbf"].(float64))
			if nbf != iat || iat < now-5 || iat > time.Now().Unix()+5 {
				t.Errorf("%s, claims %s: iat %d nbf %d, want both the issue time (about %d)", resource, claims, iat, nbf, now)
			}
		}
	}
	// A revocation event beyond the clock skew in the future cannot be satisfied.
	future := strconv.FormatInt(time.Now().Add(sts.ClockSkew+time.Hour).Unix(), 10)
	r := f.token(t, f.v2Opt, `{"access_token":{"nbf":{"essential":true,"value":"`+future+`"}}}`, false)
	wantError(t, r, http.StatusBadRequest, "invalid_request", 90100)
	if desc, _ := r.body["error_description"].(string); !strings.Contains(desc, "not valid before "+future) {
		t.Errorf("error_description %q does not explain the future nbf", desc)
	}
}

func TestMalformedClaims(t *testing.T) {
	f := startClaims(t)
	const marker = "MARKER-7f3a"
	for _, claims := range []string{
		marker,
		" ",
		`null`,
		`[]`,
		`"` + marker + `"`,
		`{"access_token":`,
		`{"access_token":[]}`,
		`{"access_token":null}`,
		`{"access_token":"` + marker + `"}`,
		`{"access_token":{"xms_cc":"CP1"}}`,
		`{"access_token":{"xms_cc":{"values":"CP1"}}}`,
		`{"access_token":{"xms_cc":{"values":[1]}}}`,
		`{"access_token":{"xms_cc":{"values":null}}}`,
		`{"access_token":{"acrs":{"essential":true,"value":1}}}`,
		`{"access_token":{"acrs":{"essential":true,"values":[""]}}}`,
		`{"access_token":{"acrs":{"essential":true,"value":"c1\u0000"}}}`,
		`{"access_token":{"acrs":{"essential":true,"value":"` + strings.Repeat("c", 200) + `"}}}`,
		`{"access_token":{"acrs":{"values":[` + strings.TrimSuffix(strings.Repeat(`"c1",`, 40), ",") + `]}}}`,
		`{"access_token":{"acrs":true}}`,
		`{"access_token":{"nbf":{"essential":true,"value":"` + marker + `"}}}`,
		`{"access_token":{"nbf":{"essential":true,"value":1.5}}}`,
		`{"access_token":{"nbf":"1604106651"}}`,
	} {
		for _, v1 := range []bool{false, true} {
			resource := f.v2Opt
			if v1 {
				resource = f.v1Plain
			}
			r := f.token(t, resource, claims, v1)
			wantError(t, r, http.StatusBadRequest, "invalid_request", 90100)
			if strings.Contains(r.raw, marker) || strings.Contains(r.raw, f.seed.ClientSecret) {
				t.Errorf("claims %q: the error echoes the request: %s", claims, r.raw)
			}
			if desc, _ := r.body["error_description"].(string); !strings.Contains(desc, "'claims'") {
				t.Errorf("claims %q: error_description %q does not name the claims parameter", claims, desc)
			}
		}
	}
	// Claims the authority does not know, and other top-level members, are ignored.
	for _, claims := range []string{
		`{}`,
		`{"id_token":{"auth_time":{"essential":true}}}`,
		`{"access_token":{"polids":{"essential":true,"values":["9ab0"]},"xms_cc":{}},"userinfo":null}`,
		`{"access_token":{"nbf":{"essential":true}}}`,
	} {
		c := f.claimsOf(t, f.v2Opt, claims, false)
		if c["acrs"] != nil || c["xms_cc"] != nil || c["polids"] != nil {
			t.Errorf("claims %s: token has acrs %v xms_cc %v polids %v", claims, c["acrs"], c["xms_cc"], c["polids"])
		}
	}
}

func TestOptionalClaimsSetting(t *testing.T) {
	dir := t.TempDir()
	f := start(t, sts.Options{StateDir: dir})
	tid := f.seed.TenantID

	// Unknown names are refused, naming the bad one.
	if _, err := f.a.AddApp(tid, directory.App{OptionalClaims: []string{"xms-cc"}}); err == nil || !strings.Contains(err.Error(), `"xms-cc"`) {
		t.Errorf("AddApp with optional claim xms-cc: %v, want an error naming it", err)
	}
	app, err := f.a.AddApp(tid, directory.App{IdentifierURIs: []string{"api://cc"}, OptionalClaims: []string{"xms_cc", "Xms_CC"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(app.OptionalClaims, []string{"xms_cc"}) {
		t.Errorf("AddApp returned optional claims %v", app.OptionalClaims)
	}

	// Persisted in directory.json, read back by another handle; the seed API opted in.
	st, err := directory.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	tenants, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, a := range tenants[0].Apps {
		got[a.ClientID] = a.OptionalClaims
	}
	if !slices.Equal(got[app.ClientID], []string{"xms_cc"}) || !slices.Equal(got[f.seed.APIClientID], []string{"xms_cc"}) || got[f.seed.ClientID] != nil {
		t.Errorf("listed optional claims %v; want xms_cc on %s and the seed API only", got, app.ClientID)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "directory.json"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(raw), `"optional_claims"`); n != 2 {
		t.Errorf("directory.json has %d optional_claims entries, want 2", n)
	}

	// A config file sets (and, being authoritative, clears) the opt-in.
	cfgPath := filepath.Join(t.TempDir(), "authority.yaml")
	write := func(optional string) {
		t.Helper()
		yaml := fmt.Sprintf("tenants:\n  - id: %s\n    apps:\n      - client_id: cfg-api\n        identifier_uris: [\"api://cfg\"]\n        app_roles: [R]\n%s"+
			"      - client_id: %s\n        display_name: appcred-demo-daemon\n        api_permissions: {\"api://cfg\": [R], %q: [Demo.Read]}\n",
			tid, optional, f.seed.ClientID, f.seed.IdentifierURI)
		if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := directory.LoadConfig(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.a.ApplyConfig(cfg, filepath.Dir(cfgPath)); err != nil {
			t.Fatal(err)
		}
	}
	cf := &claimsFixture{fixture: f}
	write("        optional_claims: [xms_cc]\n")
	if c := cf.claimsOf(t, "api://cfg", cp1Python, false); !slices.Equal(strList(c["xms_cc"]), []string{"cp1"}) {
		t.Errorf("config opt-in: xms_cc %v, want [cp1]", c["xms_cc"])
	}
	write("")
	if c := cf.claimsOf(t, "api://cfg", cp1Python, false); c["xms_cc"] != nil {
		t.Errorf("config without the opt-in: xms_cc %v", c["xms_cc"])
	}
	if err := os.WriteFile(cfgPath, []byte("tenants:\n  - id: "+tid+"\n    apps:\n      - client_id: cfg-api\n        optional_claims: [ctry]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := directory.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.a.ApplyConfig(cfg, ""); err == nil || !strings.Contains(err.Error(), `"ctry"`) {
		t.Errorf("config with optional claim ctry: %v, want an error naming it", err)
	}
}

// TestClaimsFormEncoding sends the claims value exactly as clients put it on
// the wire: URL-encoded JSON (not base64) among MSAL Node's telemetry fields.
func TestClaimsFormEncoding(t *testing.T) {
	f := startClaims(t)
	body := "client_id=" + url.QueryEscape(f.seed.ClientID) + "&scope=" + url.QueryEscape(f.seed.Scope) +
		"&grant_type=client_credentials&x-client-SKU=msal.js.node&x-ms-lib-capability=retry-after,+h429" +
		"&client_secret=" + url.QueryEscape(f.seed.ClientSecret) + "&claims=" + url.QueryEscape(cp1Python)
	req, err := http.NewRequest(http.MethodPost, f.tokenURL(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	r := f.do(t, req)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	c, err := f.a.VerifyToken(r.body["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(strList(c["xms_cc"]), []string{"cp1"}) {
		t.Errorf("xms_cc %v", c["xms_cc"])
	}
}
