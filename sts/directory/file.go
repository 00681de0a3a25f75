package directory

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/appcred/appcred/internal/fsutil"
	"github.com/appcred/appcred/proof"
)

// OptionalClaimXmsCC is the optional claim an app, as a resource, opts in to
// for client capabilities (xms_cc, e.g. "cp1") in its tokens, as in the
// optionalClaims.accessToken section of an Entra app manifest.
const OptionalClaimXmsCC = "xms_cc"

// supportedOptionalClaims are the optional claim names the local authority
// knows; others are refused so that typos do not go unnoticed.
var supportedOptionalClaims = []string{OptionalClaimXmsCC}

// dirFile is the persisted directory (directory.json).
type dirFile struct {
	Version int       `json:"version"`
	Tenants []*Tenant `json:"tenants"`
}

// readDirFile reads directory.json; a missing file is an empty directory and
// exists reports false.
func readDirFile(path string) (d *dirFile, exists bool, err error) {
	data, err := fsutil.ReadPrivateFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &dirFile{Version: 1}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("directory %s: %w", path, err)
	}
	d = &dirFile{}
	if err := json.Unmarshal(data, d); err != nil {
		return nil, true, fmt.Errorf("directory %s: %w", path, err)
	}
	return d, true, nil
}

// Exists reports whether the state directory has a directory.json yet.
func (s *State) Exists() (bool, error) {
	_, exists, err := readDirFile(filepath.Join(s.dir, FileName))
	return exists, err
}

// Index reads directory.json and returns its lookup form.
func (s *State) Index() (*Index, error) {
	d, _, err := readDirFile(filepath.Join(s.dir, FileName))
	if err != nil {
		return nil, err
	}
	return NewIndex(d.Tenants)
}

func (d *dirFile) tenant(idOrDomain string) *Tenant {
	for _, t := range d.Tenants {
		if strings.EqualFold(t.ID, idOrDomain) || slices.ContainsFunc(t.Domains, func(s string) bool {
			return strings.EqualFold(s, idOrDomain)
		}) {
			return t
		}
	}
	return nil
}

func (t *Tenant) app(clientID string) *App {
	for _, a := range t.Apps {
		if strings.EqualFold(a.ClientID, clientID) {
			return a
		}
	}
	return nil
}

// servicePrincipalID is the stable object id of an app's service principal in
// a tenant (the "oid" and "sub" of its app-only tokens).
func servicePrincipalID(tenantID, clientID string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("appcred:sp:"+strings.ToLower(tenantID)+":"+strings.ToLower(clientID))).String()
}

// validClientID accepts GUIDs and other simple identifiers; a client id ends
// up in URLs and claims, so spaces, slashes and control characters are refused.
func validClientID(id string) error {
	if id == "" {
		return errors.New("client id is empty")
	}
	if len(id) > 256 || strings.ContainsAny(id, " \t\r\n/\\?#%\"'") {
		return fmt.Errorf("client id %q has characters that are not allowed", id)
	}
	return nil
}

// parseOneCert reads the first certificate of PEM (or raw DER) data.
func parseOneCert(data []byte) (*x509.Certificate, error) {
	certs, err := proof.ParsePEMCertificates(data)
	if err == nil {
		return certs[0], nil
	}
	if c, derErr := x509.ParseCertificate(data); derErr == nil {
		return c, nil
	}
	return nil, err
}

// normalizeOptionalClaims checks an app's optional claim names and returns
// them lower-cased, without duplicates.
func normalizeOptionalClaims(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		l := strings.ToLower(strings.TrimSpace(n))
		if !slices.Contains(supportedOptionalClaims, l) {
			return nil, fmt.Errorf("optional claim %q is not supported (supported: %s)", n, strings.Join(supportedOptionalClaims, ", "))
		}
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out, nil
}
