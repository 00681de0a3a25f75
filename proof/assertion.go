package proof

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Alg is a JWS signature algorithm for client assertions.
type Alg string

// The algorithms a client assertion can be signed with.
const (
	// PS256 (RSASSA-PSS with SHA-256) and an "x5t#S256" header: what Entra ID asks for today.
	PS256 Alg = "PS256"
	// RS256 (RSASSA-PKCS1-v1_5 with SHA-256) and an "x5t" header: ADFS and most generic OIDC issuers.
	RS256 Alg = "RS256"
	// ES256 (ECDSA P-256 with SHA-256) and an "x5t#S256" header: generic issuers with EC keys.
	ES256 Alg = "ES256"
)

// MaxAssertionLifetime is the longest lifetime an assertion gets; Entra ID asks for 5-10 minutes.
const MaxAssertionLifetime = 10 * time.Minute

// AssertionOptions shape a client assertion.
type AssertionOptions struct {
	// Alg is the signature algorithm; empty means PS256 for RSA keys and ES256 for EC keys.
	Alg Alg
	// SendX5C adds the certificate chain as the "x5c" header (subject name + issuer authentication).
	SendX5C bool
	// KeyID is sent as the "kid" header when not empty, so that an issuer
	// holding several keys for the client (key rollover) verifies with the
	// right one. It must equal the "kid" of the key as registered there.
	KeyID string
	// Claims are added to the payload; they cannot override aud, iss, sub, jti, nbf, iat or exp.
	Claims map[string]any
	// Lifetime is exp - nbf; zero or more than MaxAssertionLifetime means MaxAssertionLifetime.
	Lifetime time.Duration
	// Now is the signing time; zero means time.Now().
	Now time.Time
}

// Assertion signs a fresh client assertion for clientID, addressed to audience
// (the token endpoint): iss = sub = clientID, a random jti, nbf = iat = now and
// exp = now + lifetime. PS256 and ES256 carry "x5t#S256", RS256 carries "x5t";
// a "kid" header only when o.KeyID is set.
func (c *Certificate) Assertion(clientID, audience string, o AssertionOptions) (string, error) {
	if clientID == "" {
		return "", errors.New("client assertion: client id is empty")
	}
	if audience == "" {
		return "", errors.New("client assertion: audience (token endpoint) is empty")
	}
	alg := o.Alg
	if alg == "" {
		alg = PS256
		if _, ok := c.Key.(*ecdsa.PrivateKey); ok {
			alg = ES256
		}
	}
	var method jwt.SigningMethod
	switch alg {
	case PS256:
		method = jwt.SigningMethodPS256
	case RS256:
		method = jwt.SigningMethodRS256
	case ES256:
		method = jwt.SigningMethodES256
	default:
		return "", fmt.Errorf("client assertion: unsupported algorithm %q (want PS256, RS256 or ES256)", alg)
	}
	switch c.Key.(type) {
	case *rsa.PrivateKey:
		if alg == ES256 {
			return "", errors.New("client assertion: ES256 needs an EC key, the certificate's key is RSA")
		}
	case *ecdsa.PrivateKey:
		if alg != ES256 {
			return "", fmt.Errorf("client assertion: %s needs an RSA key, the certificate's key is ECDSA", alg)
		}
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	life := o.Lifetime
	if life <= 0 || life > MaxAssertionLifetime {
		life = MaxAssertionLifetime
	}
	claims := jwt.MapClaims{}
	for k, v := range o.Claims {
		claims[k] = v
	}
	claims["aud"] = audience
	claims["iss"] = clientID
	claims["sub"] = clientID
	claims["jti"] = uuid.NewString()
	claims["nbf"] = now.Unix()
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(life).Unix()
	tok := jwt.NewWithClaims(method, claims)
	if alg == RS256 {
		tok.Header["x5t"] = X5T(c.Leaf)
	} else {
		tok.Header["x5t#S256"] = X5TS256(c.Leaf)
	}
	if o.KeyID != "" {
		tok.Header["kid"] = o.KeyID
	}
	if o.SendX5C {
		tok.Header["x5c"] = c.X5C()
	}
	s, err := tok.SignedString(c.Key)
	if err != nil {
		return "", fmt.Errorf("client assertion: signing with %s: %w", alg, err)
	}
	return s, nil
}
