package cache

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind says which grant produced a token; it is part of the key.
type Kind uint8

const (
	// KindApp is an app-only token (client credentials).
	KindApp Kind = iota
	// KindOBO is a token obtained on behalf of a user (jwt-bearer grant).
	KindOBO
	// KindOBOSession names an on-behalf-of session (its refresh token and
	// account, a [Session]) rather than a token: its Extra is the
	// partition's, and it has no scopes.
	KindOBOSession
)

// String returns "app", "obo" or "obo-rt".
func (k Kind) String() string {
	switch k {
	case KindApp:
		return "app"
	case KindOBO:
		return "obo"
	case KindOBOSession:
		return "obo-rt"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// KeyParts are the fields of a canonical cache key.
type KeyParts struct {
	ClientID string // application (client) id; case-insensitive unless ExactScopes
	Host     string // authority host, e.g. login.microsoftonline.com; case-insensitive
	Tenant   string // tenant id or domain; case-insensitive
	Kind     Kind   // app, obo or obo-rt
	// ExactScopes keeps the case of scopes and of the client id: "Read" and
	// "read" (or clients "MyApp" and "myapp") get different keys. Use it for
	// generic OAuth 2.0 / OIDC issuers, whose scopes (RFC 6749 §3.3) and client
	// ids are case-sensitive; Entra ID and AD FS scopes and client ids (GUIDs)
	// are not.
	ExactScopes bool
	Extra       string   // optional discriminator (claims hash, assertion hash); kept case-sensitive
	Scopes      []string // requested scopes; order, surrounding spaces and duplicates do not matter, nor case unless ExactScopes
}

// sep separates the fields of a key. Field bytes equal to sep, ' ' (the scope
// separator) or '%' are percent-escaped, so every key parses back unambiguously.
const sep = '|'

// maxStackScopes is how many scopes AppendKey sorts without allocating.
const maxStackScopes = 16

// AppendKey appends the canonical key for k to dst and returns the extended
// slice. The layout is
//
//	clientid|host|tenant|kind|extra|scope1 scope2 ...
//
// with client id, host, tenant and scopes lower-cased (client id and scopes
// only unless k.ExactScopes), scopes trimmed, sorted
// and de-duplicated, and '|', ' ' and '%' inside fields percent-escaped. With
// k.ExactScopes the scopes keep their case (sorted and de-duplicated byte by
// byte) and the kind field reads "app-cs" or "obo-cs", so such keys never
// equal case-folded ones.
// AppendKey does not allocate when dst has room and there are at most 16
// scopes, so the hit path can build its key in a stack buffer:
//
//	var buf [256]byte
//	tok, ok := c.Lookup(cache.AppendKey(buf[:0], parts))
//
// A caller that builds keys for one client over and over can compute the
// client|host|tenant| part once with [MakePrefix] and use [Prefix.AppendKey].
func AppendKey(dst []byte, k KeyParts) []byte {
	dst = appendPrefix(dst, k.ClientID, k.Host, k.Tenant, k.ExactScopes)
	return appendSuffix(dst, k.Kind, k.Extra, k.Scopes, k.ExactScopes)
}

// Prefix is the canonical client|host|tenant| part of the keys of one client,
// made once with [MakePrefix], and whether those keys keep scope case.
// The zero Prefix is the prefix of empty fields.
type Prefix struct {
	s     string
	exact bool
	// the fields p was made from, for ExactScopes to rebuild s
	clientID, host, tenant string
}

// MakePrefix returns the canonical prefix of the keys of one client id,
// authority host and tenant, with case-insensitive scopes. Its String is
// what [Cache.RemovePrefix] takes to remove that client's tokens for that
// tenant.
func MakePrefix(clientID, host, tenant string) Prefix {
	return Prefix{s: string(appendPrefix(nil, clientID, host, tenant, false)), clientID: clientID, host: host, tenant: tenant}
}

// ExactScopes returns p for keys whose scopes and client id keep their case
// (see [KeyParts].ExactScopes), for a generic OAuth 2.0 / OIDC issuer:
//
//	p := cache.MakePrefix(clientID, host, tenant).ExactScopes()
func (p Prefix) ExactScopes() Prefix {
	p.exact = true
	p.s = string(appendPrefix(nil, p.clientID, p.host, p.tenant, true))
	return p
}

// Client returns the start shared by every key of p's client id with p's
// case rule (any host or tenant), for [Cache.RemovePrefix]: [ClientPrefix]
// for a case-insensitive prefix, [ExactClientPrefix] for an exact one.
func (p Prefix) Client() string {
	if p.exact {
		return ExactClientPrefix(p.clientID)
	}
	return ClientPrefix(p.clientID)
}

// String returns the client|host|tenant| bytes of p, the start of every key
// made with it.
func (p Prefix) String() string { return p.s }

// AppendKey appends the key p + kind|extra|scopes to dst: the same bytes as
// the package-level AppendKey with the fields p was made from, with less work.
func (p Prefix) AppendKey(dst []byte, kind Kind, extra string, scopes []string) []byte {
	return appendSuffix(append(dst, p.s...), kind, extra, scopes, p.exact)
}

// ClientPrefix returns the prefix shared by every key of one client id, for
// [Cache.RemovePrefix] to remove all of its tokens (any host or tenant).
func ClientPrefix(clientID string) string {
	return string(append(appendField(nil, clientID, true), sep))
}

// ExactClientPrefix is [ClientPrefix] for keys that keep the client id's
// case (a generic issuer's; see [KeyParts].ExactScopes).
func ExactClientPrefix(clientID string) string {
	return string(append(appendField(nil, clientID, false), sep))
}

// appendPrefix appends client|host|tenant|; the client id keeps its case
// when exact (host and tenant are always case-insensitive).
func appendPrefix(dst []byte, clientID, host, tenant string, exact bool) []byte {
	dst = appendField(dst, clientID, !exact)
	dst = append(dst, sep)
	dst = appendField(dst, host, true)
	dst = append(dst, sep)
	dst = appendField(dst, tenant, true)
	return append(dst, sep)
}

// exactMark follows the kind in keys whose scopes keep their case.
const exactMark = "-cs"

func appendSuffix(dst []byte, kind Kind, extra string, scopes []string, exact bool) []byte {
	return appendScopes(appendKindExtra(dst, kind, extra, exact), scopes, exact)
}

// appendKindExtra appends kind|extra|, the part of a key between the prefix
// and the scopes.
func appendKindExtra(dst []byte, kind Kind, extra string, exact bool) []byte {
	dst = append(dst, kind.String()...)
	if exact {
		dst = append(dst, exactMark...)
	}
	dst = append(dst, sep)
	dst = appendField(dst, extra, false)
	return append(dst, sep)
}

// Stem is the canonical client|host|tenant|kind|extra| part of the keys that
// differ only in their scopes — for example one on-behalf-of partition's —
// made once with [Prefix.Stem], so the hit path escapes only the scopes.
type Stem struct {
	s     string
	exact bool
}

// Stem returns the stem of p's keys of kind and extra.
func (p Prefix) Stem(kind Kind, extra string) Stem {
	return Stem{s: string(appendKindExtra([]byte(p.s), kind, extra, p.exact)), exact: p.exact}
}

// AppendKey appends the key stem + scopes to dst: the same bytes as
// [Prefix.AppendKey] with the kind and extra the stem was made from.
func (s Stem) AppendKey(dst []byte, scopes []string) []byte {
	return appendScopes(append(dst, s.s...), scopes, s.exact)
}

// compareScopes orders trimmed scopes: byte by byte when exact, else as if
// lower-cased.
func compareScopes(a, b string, exact bool) int {
	if exact {
		return strings.Compare(strings.TrimSpace(a), strings.TrimSpace(b))
	}
	return compareFold(a, b)
}

// appendScopes appends the trimmed scopes in order (case-insensitive and
// lower-cased unless exact), skipping empty ones and duplicates, separated by
// single spaces.
func appendScopes(dst []byte, scopes []string, exact bool) []byte {
	switch len(scopes) {
	case 0:
		return dst
	case 1:
		return appendField(dst, strings.TrimSpace(scopes[0]), !exact)
	}
	var stack [maxStackScopes]int
	idx := stack[:0]
	if len(scopes) > maxStackScopes {
		idx = make([]int, 0, len(scopes))
	}
	for i := range scopes { // insertion sort of indexes: n is small
		idx = append(idx, i)
		for j := len(idx) - 1; j > 0 && compareScopes(scopes[idx[j-1]], scopes[idx[j]], exact) > 0; j-- {
			idx[j-1], idx[j] = idx[j], idx[j-1]
		}
	}
	first, prev := true, ""
	for _, i := range idx {
		s := strings.TrimSpace(scopes[i])
		if s == "" || (!first && compareScopes(prev, s, exact) == 0) {
			continue
		}
		if !first {
			dst = append(dst, ' ')
		}
		dst = appendField(dst, s, !exact)
		first, prev = false, s
	}
	return dst
}

// Bytes that appendField may have to change: anything below '-' (which
// includes ' ' and '%'), 'A'..'Z', and anything above 'z' (which includes
// sep '|' and every non-ASCII byte). Other bytes are copied unchanged.
func mayChange(c byte) bool { return c < '-' || 'A' <= c && c <= 'Z' || c > 'z' }

// canonicalLen returns how many leading bytes of s appendField copies as is.
func canonicalLen(s string) int {
	i := 0
	for i < len(s) && !mayChange(s[i]) {
		i++
	}
	return i
}

// appendField appends s, escaping separators and '%' and, when lower is set,
// lower-casing it. The common case (already canonical ASCII) is one copy.
func appendField(dst []byte, s string, lower bool) []byte {
	i := canonicalLen(s)
	dst = append(dst, s[:i]...)
	for i < len(s) {
		c := s[i]
		switch {
		case c == sep || c == ' ' || c == '%':
			dst = append(dst, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
		case c < utf8.RuneSelf:
			if lower && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		default:
			r, n := decodeRune(s[i:])
			switch {
			case r >= invalidByte: // keep keys distinct: escape, do not replace
				dst = append(dst, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
			case lower:
				dst = utf8.AppendRune(dst, unicode.ToLower(r))
			default:
				dst = append(dst, s[i:i+n]...)
			}
			i += n
			continue
		}
		i++
	}
	return dst
}

// compareFold compares a and b as if both were lower-cased (rune by rune,
// trimmed of surrounding spaces), without allocating.
func compareFold(a, b string) int {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	for a != "" && b != "" {
		ra, na := decodeRune(a)
		rb, nb := decodeRune(b)
		ra, rb = unicode.ToLower(ra), unicode.ToLower(rb)
		if ra != rb {
			if ra < rb {
				return -1
			}
			return 1
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) - len(b)
}

// invalidByte+b stands for a byte b that is not valid UTF-8: beyond every
// rune, so it sorts and compares apart from real characters.
const invalidByte = unicode.MaxRune + 1

// decodeRune is utf8.DecodeRuneInString, except that an invalid byte b
// decodes as invalidByte+b.
func decodeRune(s string) (rune, int) {
	if s[0] < utf8.RuneSelf {
		return rune(s[0]), 1
	}
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n == 1 {
		return invalidByte + rune(s[0]), 1
	}
	return r, n
}

// ParseKey splits a key made by [AppendKey] back into its parts (lower-cased
// but for Extra and exact scopes, scopes sorted). Stores use it to derive the
// fields of their own formats.
func ParseKey(key string) (KeyParts, error) {
	f := strings.Split(key, string(sep))
	if len(f) != 6 {
		return KeyParts{}, fmt.Errorf("cache: key has %d fields, want 6", len(f))
	}
	var k KeyParts
	var err error
	for i, dst := range []*string{&k.ClientID, &k.Host, &k.Tenant, nil, &k.Extra} {
		if dst != nil {
			if *dst, err = url.PathUnescape(f[i]); err != nil {
				return KeyParts{}, fmt.Errorf("cache: key field %d: bad escape", i)
			}
		}
	}
	kind, exact := strings.CutSuffix(f[3], exactMark)
	k.ExactScopes = exact
	switch kind {
	case "app":
		k.Kind = KindApp
	case "obo":
		k.Kind = KindOBO
	case "obo-rt":
		k.Kind = KindOBOSession
	default:
		return KeyParts{}, fmt.Errorf("cache: key has unknown kind %q", f[3])
	}
	if f[5] != "" {
		for _, s := range strings.Split(f[5], " ") {
			u, err := url.PathUnescape(s)
			if err != nil {
				return KeyParts{}, fmt.Errorf("cache: key scope: bad escape")
			}
			k.Scopes = append(k.Scopes, u)
		}
	}
	return k, nil
}
