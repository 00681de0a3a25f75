package arm

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// authenticate checks the request's bearer token and returns its tenant id,
// or answers 401 in ARM's shape (with ARM's WWW-Authenticate challenge) and
// returns false. The token never reaches a log or a response.
func (h *handler) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		h.deny(w, r, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing or is not a bearer token.",
			"The authentication failed because of missing 'Authorization' header.", "no bearer token")
		return "", false
	}
	claims, err := h.o.Verify(token)
	if err != nil {
		h.deny(w, r, "InvalidAuthenticationToken", "The access token is invalid.", "The access token is invalid.",
			err.Error())
		return "", false
	}
	aud := audiences(claims["aud"])
	if !slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(h.o.Audiences, a) }) {
		msg := fmt.Sprintf("The access token has been obtained for wrong audience or resource '%s'. It should exactly "+
			"match with one of the allowed audiences '%s'.", strings.Join(aud, "','"), strings.Join(h.o.Audiences, "','"))
		h.deny(w, r, "InvalidAuthenticationTokenAudience", msg, "The access token has been obtained for wrong audience.",
			"audience "+strings.Join(aud, ","))
		return "", false
	}
	tid, _ := claims["tid"].(string)
	if tid == "" {
		h.deny(w, r, "InvalidAuthenticationToken", "The access token has no tenant (tid).", "The access token is invalid.",
			"no tid claim")
		return "", false
	}
	return strings.ToLower(tid), true
}

// audiences reads aud as a string or an array of strings.
func audiences(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return a
	}
	return nil
}

// deny answers 401 with ARM's body and challenge and logs why (never the token).
func (h *handler) deny(w http.ResponseWriter, r *http.Request, code, message, challenge, why string) {
	h.o.Logger.Info("arm: unauthenticated", "path", r.URL.Path, "code", code, "reason", why)
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization_uri="%s", error="invalid_token", error_description="%s"`,
		cloudFor(r.Host, h.o.LoginEndpoint).LoginEndpoint, challenge))
	writeError(w, http.StatusUnauthorized, code, message)
}
