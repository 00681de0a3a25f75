// Package bench holds benchmarks only: appcred, MSAL Go
// (github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential)
// and azidentity (github.com/Azure/azure-sdk-for-go/sdk/azidentity) ask the
// same loopback authority (appcred's sts, real TLS on 127.0.0.1) for
// client-credentials tokens, in one go test -bench run, so their figures can be
// compared line by line:
//
//	go test -run '^$' -bench . -benchmem ./bench/
//
// Every benchmark has one sub-benchmark per library (appcred, msalgo,
// azidentity), and the same HTTP client (one TLS transport trusting the local
// CA, wrapped to count token requests) is given to all three.
//
// BenchmarkCacheHit and BenchmarkParallelHit measure cache hits with 1, 1k,
// 10k and 100k tokens cached. Filling a cache goes through each library's
// public token call, but token POSTs are answered in-process by a canned
// http.RoundTripper (discovery still goes to the authority), because 100k
// registered resources and signed tokens would make the fill, not the hit, the
// cost of the run. Every canned token is 1,152 bytes (a Go size class, so the
// allocator adds nothing to the token's own bytes), is derived from the scope,
// and has the authority's response shape and a one hour lifetime. The hit loop
// fails if any library sends a token request while it runs, so a hit is a hit.
//
// Filling caps, and why: MSAL Go checks its cache by scanning every cached
// token before each network request, so filling n tokens one by one costs
// O(n²); it is filled with confidential.WithClaims, a public option that skips
// that scan (the token is cached under the same key, which the harness test
// checks). azidentity always scans (its GetToken calls AcquireTokenSilent
// first) and offers no way around it, so it is filled only up to 10k tokens;
// its 100k hit and memory figures are skipped.
//
// BenchmarkMemoryPerToken reports the live heap a client keeps per cached
// token beyond the token's own bytes (B/token), measured with
// runtime.ReadMemStats after a GC before and after filling.
//
// The network benchmarks use the real authority: BenchmarkHerd (100 concurrent
// cold callers for one scope; requests/op), BenchmarkDistinctScopes (50 cold
// scopes at once while every token POST is delayed 20 ms, against a floor of 50
// bare requests), BenchmarkHitDuringMiss (how long a hit takes while a miss of
// the same client is in flight; hit-ns) and BenchmarkMiss
// (one token request per op, against a floor of a bare net/http form POST plus
// JSON decode). A miss needs a scope the client has not cached: each op takes
// the next scope from a pool of identifier URIs registered on one resource
// app; when the pool runs out, the timer stops and every library gets a new
// client, warmed with one request so discovery is not measured. Keeping the
// pool small (64) keeps MSAL Go's scan before each miss short, so the miss
// figures compare request paths, not cache scans.
package bench
