package aadsts_test

import (
	"fmt"
	"testing"

	"github.com/appcred/appcred/aadsts"
)

func TestCodeString(t *testing.T) {
	for _, tc := range []struct {
		code aadsts.Code
		want string
	}{
		{aadsts.InvalidClientSecret, "AADSTS7000215"},
		{aadsts.UnknownInstance, "AADSTS50049"},
		{aadsts.Code(0), "AADSTS0"},
	} {
		if got := tc.code.String(); got != tc.want {
			t.Errorf("Code(%d).String() = %q, want %q", int(tc.code), got, tc.want)
		}
		if got := fmt.Sprint(tc.code); got != tc.want {
			t.Errorf("fmt.Sprint(Code(%d)) = %q, want %q", int(tc.code), got, tc.want)
		}
	}
}

func ExampleCode() {
	fmt.Println(aadsts.InvalidClientSecret, int(aadsts.InvalidClientSecret))
	// Output: AADSTS7000215 7000215
}
