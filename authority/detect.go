package authority

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// IMDSRegionURL is where Azure's instance metadata service answers the
// host's region as plain text.
const IMDSRegionURL = "http://169.254.169.254/metadata/instance/compute/location?format=text&api-version=2021-01-01"

// imdsTimeout bounds the whole IMDS question: off Azure nothing answers.
const imdsTimeout = 2 * time.Second

// ErrRegionNotDetected means neither REGION_NAME nor IMDS named a region.
var ErrRegionNotDetected = errors.New("Azure region not detected")

// DetectRegion returns the region of the Azure host this process runs on, as
// MSAL does: the REGION_NAME environment variable when set, else the answer of
// the instance metadata service (GET IMDSRegionURL with "Metadata: true",
// through hc, within 2 s). The name is lower-cased and checked with
// ValidRegion. Off Azure it returns ErrRegionNotDetected (wrapping the cause).
func DetectRegion(ctx context.Context, hc *http.Client) (string, error) {
	if r := strings.ToLower(strings.TrimSpace(os.Getenv("REGION_NAME"))); r != "" {
		if err := ValidRegion(r); err != nil || IsAutoDetect(r) {
			return "", fmt.Errorf("%w: REGION_NAME: %w", ErrRegionNotDetected, ErrInvalidRegion)
		}
		return r, nil
	}
	ctx, cancel := context.WithTimeout(ctx, imdsTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, IMDSRegionURL, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Metadata", "true")
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: instance metadata service: %w", ErrRegionNotDetected, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256))
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%w: instance metadata service answered %s", ErrRegionNotDetected, resp.Status)
	}
	r := strings.ToLower(strings.TrimSpace(string(body)))
	if err := ValidRegion(r); err != nil || IsAutoDetect(r) {
		return "", fmt.Errorf("%w: instance metadata service answered an invalid region", ErrRegionNotDetected)
	}
	return r, nil
}
