package proof

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"strconv"
	"time"
)

// String describes the certificate (subject, SHA-256 thumbprint, expiry and
// key type) without its private key, so fmt's verbs never print key material.
func (c Certificate) String() string {
	if c.Leaf == nil {
		return "proof.Certificate{no leaf, key=" + keyKind(c) + " [redacted]}"
	}
	return "proof.Certificate{subject=" + c.Leaf.Subject.String() + " x5t#S256=" + X5TS256(c.Leaf) +
		" not_after=" + c.Leaf.NotAfter.UTC().Format(time.RFC3339) + " key=" + keyKind(c) + " [redacted]}"
}

// GoString is String, so %#v does not print the private key either.
func (c Certificate) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without the private key (slog's JSON
// handler would otherwise marshal the key's fields).
func (c Certificate) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("key", keyKind(c)+" [redacted]")}
	if c.Leaf != nil {
		attrs = append(attrs, slog.String("subject", c.Leaf.Subject.String()), slog.String("x5t#S256", X5TS256(c.Leaf)),
			slog.Time("not_after", c.Leaf.NotAfter))
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON encodes what LogValue shows, never the private key, for a
// Certificate inside a value that is logged or encoded as JSON.
func (c Certificate) MarshalJSON() ([]byte, error) {
	m := map[string]any{"key": keyKind(c) + " [redacted]"}
	if c.Leaf != nil {
		m["subject"], m["x5t#S256"], m["not_after"] = c.Leaf.Subject.String(), X5TS256(c.Leaf), c.Leaf.NotAfter
	}
	return json.Marshal(m)
}

// keyKind names the private key's type and size.
func keyKind(c Certificate) string {
	switch k := c.Key.(type) {
	case nil:
		return "no key"
	case *rsa.PrivateKey:
		return "RSA-" + strconv.Itoa(k.N.BitLen())
	case *ecdsa.PrivateKey:
		return "ECDSA-" + k.Curve.Params().Name
	case ed25519.PrivateKey:
		return "Ed25519"
	}
	return "private key"
}
