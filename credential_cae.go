package appcred

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// CAE (continuous access evaluation): a client that can answer claims
// challenges announces the "CP1" capability in the claims of every token
// request (WithClientCapabilities), and Entra may then issue long-lived tokens
// it can revoke. CAE tokens are cached apart from plain ones: a separate Client
// (memory) whose keys carry the capability (Store).

// transporterRT runs requests through an azcore policy.Transporter (an
// *http.Client or any other).
type transporterRT struct{ t policy.Transporter }

func (t transporterRT) RoundTrip(r *http.Request) (*http.Response, error) { return t.t.Do(r) }

// baseTransport is the round tripper every client of a credential uses: the
// caller's Transport, or a transport trusting CACertificates, or nil (the
// default).
func baseTransport(o CredentialOptions) (http.RoundTripper, error) {
	if o.Transport != nil {
		if len(o.CACertificates) > 0 {
			return nil, errors.New("CACertificates cannot be combined with ClientOptions.Transport: configure the transport's RootCAs instead")
		}
		return transporterRT{o.Transport}, nil
	}
	if len(o.CACertificates) == 0 {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(o.CACertificates) {
		return nil, errors.New("CACertificates: no PEM CERTIFICATE found")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}
