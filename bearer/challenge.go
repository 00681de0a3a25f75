package bearer

import (
	"encoding/base64"
	"strings"
)

// Challenge is one authentication challenge of a WWW-Authenticate header
// (RFC 9110 §11.6.1): a scheme and its parameters.
type Challenge struct {
	// Scheme is the authentication scheme as sent, e.g. "Bearer".
	Scheme string
	// Params are the auth-params, names lower-cased, quoted values unescaped.
	Params map[string]string
}

// ParseChallenges parses one WWW-Authenticate header value, which may hold
// several comma-separated challenges, each a scheme followed by
// name=value parameters (values are tokens or quoted strings). A token68
// credential after a scheme is kept as the parameter "". Malformed parts are
// skipped; ParseChallenges never fails.
func ParseChallenges(v string) []Challenge {
	var out []Challenge
	p := parser{s: v}
	for {
		p.skipSpaceAndCommas()
		if p.done() {
			return out
		}
		scheme := p.token()
		if scheme == "" {
			p.skipTo(',') // not a token: skip this element
			continue
		}
		c := Challenge{Scheme: scheme, Params: map[string]string{}}
		p.params(&c)
		out = append(out, c)
	}
}

type parser struct {
	s string
	i int
}

func (p *parser) done() bool { return p.i >= len(p.s) }

func (p *parser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *parser) skipSpaceAndCommas() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == ',') {
		p.i++
	}
}

func (p *parser) skipTo(b byte) {
	for p.i < len(p.s) && p.s[p.i] != b {
		p.i++
	}
}

// isTchar reports whether b may appear in an RFC 9110 token.
func isTchar(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

func (p *parser) token() string {
	start := p.i
	for p.i < len(p.s) && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted-string starting at the opening quote. It copies runs
// between escapes at once, so a long value (a claims challenge) costs little.
func (p *parser) quoted() string {
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		j := strings.IndexAny(p.s[p.i:], `\"`)
		if j < 0 {
			break
		}
		if p.s[p.i+j] == '"' {
			if b.Len() == 0 { // no escapes: the value is a substring
				v := p.s[p.i : p.i+j]
				p.i += j + 1
				return v
			}
			b.WriteString(p.s[p.i : p.i+j])
			p.i += j + 1
			return b.String()
		}
		b.WriteString(p.s[p.i : p.i+j])
		p.i += j
		if p.i+1 < len(p.s) { // an escaped character
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		} else { // a lone backslash at the end
			b.WriteByte('\\')
			p.i++
		}
	}
	b.WriteString(p.s[p.i:]) // unterminated: take the rest
	p.i = len(p.s)
	return b.String()
}

// params reads the parameters of one challenge, stopping before the next
// challenge's scheme (a token not followed by "=").
func (p *parser) params(c *Challenge) {
	for {
		p.skipSpaceAndCommas()
		if p.done() {
			return
		}
		save := p.i
		name := p.token()
		p.skipSpace()
		if name == "" {
			p.skipTo(',')
			continue
		}
		if p.done() || p.s[p.i] != '=' {
			p.i = save // the next challenge's scheme
			return
		}
		p.i++ // '='
		if p.i < len(p.s) && p.s[p.i] == '=' {
			// token68 ending in '=' padding: "Basic abc=="
			for p.i < len(p.s) && p.s[p.i] == '=' {
				p.i++
			}
			c.Params[""] = name + p.s[save+len(name):p.i]
			continue
		}
		p.skipSpace()
		var val string
		if p.i < len(p.s) && p.s[p.i] == '"' {
			val = p.quoted()
		} else {
			val = p.token()
		}
		c.Params[strings.ToLower(name)] = val
	}
}

// InsufficientClaimsChallenge is the WWW-Authenticate value with which a
// resource (or a middle tier relaying appcred.ClaimsChallengeError) asks its
// caller for a token carrying claims, a JSON claims request:
//
//	Bearer authorization_uri="<authorizationURI>", error="insufficient_claims", claims="<base64 of claims>"
//
// The claims are standard base64 with padding (what azcore and
// ClaimsChallenge decode); authorization_uri is left out when empty. Send it
// with status 401.
func InsufficientClaimsChallenge(authorizationURI, claims string) string {
	var b strings.Builder
	b.WriteString("Bearer ")
	if authorizationURI != "" {
		b.WriteString(`authorization_uri=`)
		writeQuoted(&b, authorizationURI)
		b.WriteString(", ")
	}
	b.WriteString(`error="insufficient_claims", claims="`)
	b.WriteString(base64.StdEncoding.EncodeToString([]byte(claims)))
	b.WriteByte('"')
	return b.String()
}

// writeQuoted writes s as an RFC 9110 quoted-string, escaping '"' and '\'
// and dropping control characters, which a header value cannot carry.
func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
