package wire

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// MinSecretRun is the length from which any run of a secret's characters is
// redacted: no substring of a secret of MinSecretRun or more characters, in
// any letter case, survives Secrets.Redact. A shorter secret (4 to 11
// characters) is redacted where it appears whole.
const MinSecretRun = 12

// minSecret is the shortest value Secrets redacts: shorter ones would blank
// out ordinary words of an error text.
const minSecret = 4

// redactedText replaces every run of secret characters.
const redactedText = "[REDACTED]"

// Secrets is a set of secret values (client secrets, assertions, tokens,
// Basic credentials) to keep out of error text and logs, in every spelling an
// authority may echo them in: any ASCII letter case, percent-encoded (one or
// two levels, any hex case, '+' for space), base64 (standard or URL alphabet,
// at any byte alignment), whole or in part. It is the one scrubber used
// wherever an error leaves appcred. The zero value is an empty set. Adding a
// value only records it: its spellings are built on the first Redact,
// Contains or ScrubError after it, as most sets never scrub anything. A
// Secrets may be used from several goroutines at once (values added while
// others redact); it must not be copied after first use.
type Secrets struct {
	mu      sync.RWMutex
	pending []string        // values added whose runs are not built yet
	runs    map[int]*runSet // run length → normalized runs of every spelling
}

// runSet holds the runs of one length w, with a rolling-hash filter in front
// of the exact set, so that scanning a long text mostly skips the map.
type runSet struct {
	w      int
	pow    uint64 // hashBase^(w-1)
	filter [1 << 10]uint64
	exact  map[string]struct{}
}

const hashBase = 1099511628211 // the FNV-64 prime

func (r *runSet) bit(h uint64) (int, uint64) { h >>= 48; return int(h >> 6), 1 << (h & 63) }

func (r *runSet) add(run []byte) {
	var h uint64
	for _, c := range run {
		h = h*hashBase + uint64(c)
	}
	i, m := r.bit(h)
	r.filter[i] |= m
	r.exact[string(run)] = struct{}{}
}

// scan calls hit(i) for every i where b[i:i+w] is in the set.
func (r *runSet) scan(b []byte, hit func(i int)) {
	if len(b) < r.w {
		return
	}
	var h uint64
	for _, c := range b[:r.w] {
		h = h*hashBase + uint64(c)
	}
	for i := 0; ; i++ {
		if j, m := r.bit(h); r.filter[j]&m != 0 {
			if _, ok := r.exact[string(b[i:i+r.w])]; ok {
				hit(i)
			}
		}
		if i+r.w >= len(b) {
			return
		}
		h = (h-uint64(b[i])*r.pow)*hashBase + uint64(b[i+r.w])
	}
}

// Add adds value (and its base64 spellings) to the set; values shorter than 4
// bytes are ignored.
func (s *Secrets) Add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		if len(v) >= minSecret {
			s.pending = append(s.pending, v)
		}
	}
}

// rlock read-locks s, first building the runs of the values added so far.
func (s *Secrets) rlock() {
	s.mu.RLock()
	if len(s.pending) == 0 {
		return
	}
	s.mu.RUnlock()
	s.mu.Lock()
	for _, v := range s.pending {
		s.addSpellings(v)
	}
	s.pending = nil
	s.mu.Unlock()
	s.mu.RLock() // a value added in between is concurrent with the caller: it may wait for the next use
}

// addSpellings records the runs of v (4 bytes or more) and, from MinSecretRun
// bytes, of its base64 spellings, as is and form-encoded.
func (s *Secrets) addSpellings(v string) {
	s.addRuns(v)
	if len(v) < MinSecretRun {
		return
	}
	for _, enc := range []string{v, url.QueryEscape(v)} {
		for _, b64 := range base64Spellings(enc) {
			s.addRuns(b64)
		}
	}
}

// AddAuthorization adds the credential of an Authorization header value: the
// whole credential and, for Basic, the secret inside it (RFC 6749 §2.3.1:
// form-urlencoded before base64).
func (s *Secrets) AddAuthorization(value string) {
	scheme, cred, ok := strings.Cut(value, " ")
	if !ok {
		return
	}
	s.Add(cred)
	if !strings.EqualFold(scheme, "Basic") {
		return
	}
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return
	}
	if _, pass, ok := strings.Cut(string(raw), ":"); ok {
		s.Add(pass)
		if p, err := url.QueryUnescape(pass); err == nil {
			s.Add(p)
		}
	}
}

// sensitiveFields are form parameters whose values must never be echoed.
var sensitiveFields = []string{"client_secret", "client_assertion", "assertion", "refresh_token", "code", "password"}

// AddRequest adds the secret values of a request: the sensitive form fields
// (client_secret, client_assertion, assertion, refresh_token, code, password)
// and the Authorization header's credential.
func (s *Secrets) AddRequest(form url.Values, hdr http.Header) {
	for _, k := range sensitiveFields {
		s.Add(form[k]...)
	}
	for _, v := range hdr.Values("Authorization") {
		s.AddAuthorization(v)
	}
}

// Empty reports whether the set holds no value.
func (s *Secrets) Empty() bool {
	if s == nil {
		return true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.pending) == 0 && len(s.runs) == 0 // every value of 4 bytes or more has runs
}

// addRuns records every run of normalized v of length min(len, MinSecretRun).
func (s *Secrets) addRuns(v string) {
	n := normalize(v)
	w := min(len(n), MinSecretRun)
	if w < minSecret {
		return
	}
	if s.runs == nil {
		s.runs = map[int]*runSet{}
	}
	set := s.runs[w]
	if set == nil {
		set = &runSet{w: w, pow: 1, exact: map[string]struct{}{}}
		for range w - 1 {
			set.pow *= hashBase
		}
		s.runs[w] = set
	}
	for i := 0; i+w <= len(n); i++ {
		set.add(n[i : i+w])
	}
}

// base64Spellings returns the parts of v's base64 encodings (standard and URL
// alphabets, v starting at each of the three byte alignments) that depend on
// v's bytes alone.
func base64Spellings(v string) []string {
	var out []string
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for k := range 3 {
			e := enc.EncodeToString(append(make([]byte, k), v...))
			lead := []int{0, 2, 3}[k] // characters that mix in the bytes before v
			end := len(e)
			if (k+len(v))%3 != 0 {
				end-- // the last character mixes in the byte after v
			}
			if end-lead >= minSecret {
				out = append(out, e[lead:end])
			}
		}
	}
	return out
}

// normalize folds ASCII letters to lower case and a space to '+' (its form
// encoding), so that every case spelling of a value compares equal.
func normalize(v string) []byte {
	b := []byte(v)
	for i, c := range b {
		b[i] = fold(c)
	}
	return b
}

func fold(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c + 'a' - 'A'
	case c == ' ':
		return '+'
	}
	return c
}

// decoded is a normalized view of a text with, for each byte, the range of
// the original text it came from.
type decoded struct {
	b        []byte
	from, to []int
}

// views returns text normalized: as it is, percent-decoded, and decoded twice
// (a double-encoded echo). Each is searched: a '%' may also be a secret's own.
func views(text string) []decoded {
	d := decoded{b: make([]byte, len(text)), from: make([]int, len(text)), to: make([]int, len(text))}
	for i := range len(text) {
		d.b[i], d.from[i], d.to[i] = fold(text[i]), i, i+1
	}
	if !strings.Contains(text, "%") {
		return []decoded{d}
	}
	once := d.percentDecode()
	return []decoded{d, once, once.percentDecode()}
}

// percentDecode decodes %XX escapes (any hex case) of d.
func (d decoded) percentDecode() decoded {
	out := decoded{b: make([]byte, 0, len(d.b)), from: make([]int, 0, len(d.b)), to: make([]int, 0, len(d.b))}
	for i := 0; i < len(d.b); i++ {
		if d.b[i] == '%' && i+2 < len(d.b) && isHex(d.b[i+1]) && isHex(d.b[i+2]) {
			out.b = append(out.b, fold(unhex(d.b[i+1])<<4|unhex(d.b[i+2])))
			out.from, out.to = append(out.from, d.from[i]), append(out.to, d.to[i+2])
			i += 2
			continue
		}
		out.b, out.from, out.to = append(out.b, d.b[i]), append(out.from, d.from[i]), append(out.to, d.to[i])
	}
	return out
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// Redact returns text with every run of secret characters replaced by
// "[REDACTED]".
func (s *Secrets) Redact(text string) string {
	if s.Empty() || len(text) < minSecret {
		return text
	}
	hit, found := s.hits(text)
	if !found {
		return text
	}
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		if !hit[i] {
			b.WriteByte(text[i])
			continue
		}
		b.WriteString(redactedText)
		for i+1 < len(text) && hit[i+1] {
			i++
		}
	}
	return b.String()
}

// hits marks the bytes of text that are part of a run of secret characters,
// and reports whether there was one.
func (s *Secrets) hits(text string) (hit []bool, found bool) {
	s.rlock()
	defer s.mu.RUnlock()
	hit = make([]bool, len(text)+1) // hit[i]: original byte i is part of a secret run
	for _, d := range views(text) {
		for _, set := range s.runs {
			set.scan(d.b, func(i int) {
				for j := d.from[i]; j < d.to[i+set.w-1]; j++ {
					hit[j] = true
				}
				found = true
			})
		}
	}
	return hit, found
}

// Contains reports whether text holds a run of secret characters.
func (s *Secrets) Contains(text string) bool { return s.Redact(text) != text }

// ScrubError removes the set's values from err: from the fields of every
// *Error in its chain (the parts an authority wrote, and the cause), and,
// should the text of err still hold one (a wrapper quoting a secret), it
// returns an error with the redacted text that unwraps to the scrubbed *Error
// only. It returns err itself when nothing had to change in its text.
func (s *Secrets) ScrubError(err error) error {
	if err == nil || s.Empty() {
		return err
	}
	var e *Error
	if errors.As(err, &e) {
		s.scrubFields(e)
	}
	text := err.Error()
	if red := s.Redact(text); red != text {
		return &redactedError{text: red, cause: e}
	}
	return err
}

// scrubFields redacts e's fields in place.
func (s *Secrets) scrubFields(e *Error) {
	for _, f := range []*string{&e.OAuthError, &e.SubError, &e.Description, &e.ErrorURI, &e.Claims, &e.Timestamp,
		&e.TraceID, &e.CorrelationID, &e.Endpoint} {
		*f = s.Redact(*f)
	}
	if e.Err != nil {
		if text := e.Err.Error(); s.Contains(text) {
			e.Err = &redactedError{text: s.Redact(text)}
		}
	}
}

// redactedError is an error whose text had secrets removed; it unwraps to the
// (scrubbed) *Error it stands for, when there is one.
type redactedError struct {
	text  string
	cause *Error
}

func (r *redactedError) Error() string { return r.text }

func (r *redactedError) Unwrap() error {
	if r.cause == nil {
		return nil
	}
	return r.cause
}
