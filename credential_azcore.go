package appcred

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/appcred/appcred/internal/wire"
)

// maxApplicationID is azcore's limit on Telemetry.ApplicationID.
const maxApplicationID = 24

// checkClientOptions refuses the azcore.ClientOptions settings a credential
// cannot honour, naming each, so that none is silently dropped.
func checkClientOptions(co azcore.ClientOptions) error {
	var bad []string
	if co.APIVersion != "" {
		bad = append(bad, "APIVersion: token requests have no service API version")
	}
	if co.InsecureAllowCredentialWithHTTP {
		bad = append(bad, "InsecureAllowCredentialWithHTTP: a credential reaches its authority over https only "+
			"(the setting belongs to the options of the Azure SDK client that sends the token)")
	}
	if co.Logging.IncludeBody {
		bad = append(bad, "Logging.IncludeBody: token request bodies carry client secrets and assertions, "+
			"and responses carry tokens; they are never logged")
	}
	for _, h := range co.Logging.AllowedHeaders {
		if strings.EqualFold(strings.TrimSpace(h), "Authorization") {
			bad = append(bad, "Logging.AllowedHeaders: Authorization may carry the client secret and is never logged")
		}
	}
	switch id := co.Telemetry.ApplicationID; {
	case id != "" && co.Telemetry.Disabled:
		bad = append(bad, "Telemetry.ApplicationID: Telemetry.Disabled sends no User-Agent to carry it")
	case len(id) > maxApplicationID || strings.ContainsAny(id, " \t\r\n"):
		bad = append(bad, fmt.Sprintf("Telemetry.ApplicationID %q: at most %d characters and no spaces", id, maxApplicationID))
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("ClientOptions.%s", strings.Join(bad, "; ClientOptions."))
}

// azcoreTune returns how a credential's Clients apply its ClientOptions:
//   - Retry: MaxRetries (0 = 3, negative = none), TryTimeout (per attempt),
//     RetryDelay / MaxRetryDelay (0 keeps appcred's 200 ms and 10 s; negative
//     means no delay / no cap; MaxRetryDelay also caps the Retry-After that is
//     honoured, as in azcore), StatusCodes and ShouldRetry, applied by
//     appcred's own retry loop, which signs a fresh assertion per attempt;
//   - Telemetry: User-Agent "[ApplicationID ]appcred.Go/… (go…; os)", none when Disabled;
//   - Logging, PerCallPolicies, PerRetryPolicies, TracingProvider: every
//     attempt goes through an azcore pipeline built from them (no retries of
//     its own), so azcore/log receives its Request, Response and Retry events
//     with Logging.AllowedHeaders / AllowedQueryParams applied, the policies
//     run (per-call policies once per attempt), and a provider gets a span per
//     attempt with azcore's HTTP span inside.
func azcoreTune(co azcore.ClientOptions) (func(*wire.Client), error) {
	if err := checkClientOptions(co); err != nil {
		return nil, err
	}
	r := co.Retry
	tracer := co.TracingProvider.NewTracer("appcred", wire.Version)
	return func(wc *wire.Client) {
		wc.MaxRetries = int(r.MaxRetries) // 0 = default, negative = none: azcore's reading too
		wc.TryTimeout, wc.BaseDelay, wc.MaxDelay = r.TryTimeout, r.RetryDelay, r.MaxRetryDelay
		if r.MaxRetryDelay != 0 {
			wc.MaxRetryAfter = r.MaxRetryDelay
		}
		wc.RetryStatusCodes, wc.ShouldRetry = r.StatusCodes, r.ShouldRetry
		if !co.Telemetry.Disabled {
			wc.UserAgent = wire.UserAgent(co.Telemetry.ApplicationID)
		}
		pl := runtime.NewPipeline("appcred", wire.Version, runtime.PipelineOptions{}, &policy.ClientOptions{
			Logging: co.Logging, PerCallPolicies: co.PerCallPolicies, PerRetryPolicies: co.PerRetryPolicies,
			Retry: policy.RetryOptions{MaxRetries: -1}, Telemetry: policy.TelemetryOptions{Disabled: true},
			Transport: wc.HTTP,
		})
		wc.Send = func(hr *http.Request) (*http.Response, error) {
			ctx, end := runtime.StartSpan(hr.Context(), "appcred.AuthorityRequest", tracer, nil)
			req, err := runtime.NewRequestFromRequest(hr.WithContext(ctx))
			if err != nil {
				end(err)
				return nil, err
			}
			runtime.SkipBodyDownload(req) // wire reads the body under its 1 MiB cap
			resp, err := pl.Do(req)
			end(err)
			return resp, err
		}
	}, nil
}
