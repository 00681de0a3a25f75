package filestore

import (
	"reflect"
	"testing"
)

// FuzzParseDocument feeds cache files (MSAL's unified schema, as MSAL Python
// and Go write them, and appcred's own entries) to the parser and the index
// built from them: no panic, and an accepted file written back (encode)
// parses to a file with the same tokens and on-behalf-of sessions.
func FuzzParseDocument(f *testing.F) {
	for _, s := range []string{
		`{"AccessToken":{"-login.microsoftonline.com-accesstoken-c1-t1-api://x/.default":{"credential_type":"AccessToken",` +
			`"secret":"tok","home_account_id":"","environment":"login.microsoftonline.com","client_id":"c1","realm":"t1",` +
			`"target":"api://x/.default","token_type":"Bearer","cached_at":"1700000000","expires_on":"1900000000",` +
			`"extended_expires_on":"1900000000"}},"Account":{},"IdToken":{},"RefreshToken":{},"AppMetadata":{}}`,
		`{"AccessToken":{"a":{"credential_type":"AccessToken","secret":"s","client_id":"c","environment":"h:8443",` +
			`"realm":"t","target":"a b","expires_on":1900000000,"refresh_on":"1800000000","user_assertion_hash":"h"}}}`,
		`{"AccessToken":{"k":{"appcred_key":"c|h|t|app|||s","secret":"s","expires_on":"1900000000"}}}`,
		`{"AccessToken":{"u":{"credential_type":"AccessToken","secret":"s","client_id":"c","home_account_id":"u.t",` +
			`"expires_on":"1900000000","token_type":"pop"}}}`,
		`{"AccessToken":{"x":{"expires_on":"abc"}},"AppMetadata":null}`, `{"AccessToken":[]}`, `{"AccessToken":null}`,
		`[]`, `null`, ``, `{`, `{"AccessToken":{"x":5}}`, `{"Other":{"keep":true}}`,
		`{"RefreshToken":{"u.t-h-refreshtoken-c--":{"credential_type":"RefreshToken","secret":"rt","home_account_id":"u.t",` +
			`"environment":"h","client_id":"c","realm":"t","user_assertion_hash":"h=","last_modification_time":"1700000000"},` +
			`"b":{"credential_type":"RefreshToken","secret":"rt2","environment":"H","client_id":"C","realm":"T",` +
			`"user_assertion_hash":"h=","last_modification_time":1700000000}},` +
			`"Account":{"u.t-h-t":{"home_account_id":"u.t","environment":"h","realm":"t","local_account_id":"u",` +
			`"username":"a@t","authority_type":"MSSTS"},"u.t-h-g":{"home_account_id":"u.t","environment":"H","realm":"g"}}}`,
		`{"RefreshToken":{"k":{"appcred_key":"c|h|t|obo-rt|x|","secret":"rt"},"j":{"appcred_key":"c|h|t|obo|x|s",` +
			`"secret":"rt"},"p":{"credential_type":"RefreshToken","secret":"user","home_account_id":"u.t","client_id":"c"}}}`,
		`{"RefreshToken":[]}`, `{"Account":{"a":null,"b":7}}`, `{"RefreshToken":{"x":{"last_modification_time":"x"}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parseDocument(data)
		if err != nil {
			return
		}
		idx, sessions := buildIndex(d), buildSessionIndex(d)
		out, err := d.encode()
		if err != nil {
			t.Fatalf("an accepted file does not encode: %v", err)
		}
		d2, err := parseDocument(out)
		if err != nil {
			t.Fatalf("the encoded file %s does not parse: %v", out, err)
		}
		if idx2 := buildIndex(d2); !reflect.DeepEqual(idx, idx2) {
			t.Fatalf("tokens changed through encode:\n%v\n%v", idx, idx2)
		}
		if s2 := buildSessionIndex(d2); !reflect.DeepEqual(sessions, s2) {
			t.Fatalf("sessions changed through encode:\n%v\n%v", sessions, s2)
		}
	})
}
