package sts_test

import (
	"crypto/rand"
	"crypto/rsa"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/appcred/appcred/sts"
)

// BenchmarkAuthority measures, in one run, the raw RS256-2048 signature rate
// on all cores and the token endpoint's throughput over loopback TLS with
// keep-alive and several concurrent clients, for secret and certificate
// clients, and for the password and on-behalf-of grants. Every token costs one RS256 signature, so sign/s bounds tokens/s;
// "%sign" reports tokens/s as a share of the signature rate of this run.
// The sign-in log is on (slog, ring and file), as a served authority runs.
//
//	go test -run '^$' -bench BenchmarkAuthority -benchtime 3s ./sts/
func BenchmarkAuthority(b *testing.B) {
	var signRate float64

	b.Run("RS256-2048-sign", func(b *testing.B) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			b.Fatal(err)
		}
		key.Precompute()
		// A typical signing input: header and v2 claims, base64url.
		input := strings.Repeat("eyJhbGciOiJSUzI1NiIsImtpZCI6Ik", 20)
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := jwt.SigningMethodRS256.Sign(input, key); err != nil {
					b.Error(err)
					return
				}
			}
		})
		signRate = float64(b.N) / time.Since(start).Seconds()
		b.ReportMetric(signRate, "sign/s")
	})

	// With the sign-in log on: every record formatted by a text slog handler
	// at Info, kept in the ring and appended to the JSON Lines file.
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	f := start(b, sts.Options{Logger: logger, SignInFile: sts.SignInFile})
	good, _ := certs(b)
	run := func(b *testing.B, bodies []string) {
		hc := f.a.HTTPClient()
		defer hc.CloseIdleConnections()
		url := f.tokenURL()
		var next, failures atomic.Int64
		b.SetParallelism(4) // 4 clients per core
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				body := bodies[int(next.Add(1))%len(bodies)]
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				res, err := hc.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				if res.StatusCode != http.StatusOK {
					failures.Add(1)
				}
			}
		})
		rate := float64(b.N) / time.Since(start).Seconds()
		b.StopTimer()
		if n := failures.Load(); n > 0 {
			b.Fatalf("%d of %d token requests failed", n, b.N)
		}
		b.ReportMetric(rate, "tokens/s")
		if signRate > 0 {
			b.ReportMetric(100*rate/signRate, "%sign")
		}
	}

	b.Run("secret", func(b *testing.B) {
		run(b, []string{f.secretForm().Encode()})
	})
	b.Run("secret+claims", func(b *testing.B) {
		// What azcore's BearerTokenPolicy sends: CP1, here with a CAE challenge merged in.
		form := f.secretForm()
		form.Set("claims", `{"access_token":{"nbf":{"essential":true,"value":"1604106651"},"xms_cc":{"values":["CP1"]}}}`)
		run(b, []string{form.Encode()})
	})
	obo := provisionOBO(b, f.a, f.seed)
	b.Run("password", func(b *testing.B) {
		run(b, []string{obo.passwordForm(obo.cli, obo.middleScope).Encode()})
	})
	b.Run("on-behalf-of", func(b *testing.B) {
		// One signature check of the user assertion plus one signature per token.
		user := (&oboFixture{fixture: f, oboApps: obo}).userToken(b)
		run(b, []string{obo.oboForm(user, obo.ordersScope).Encode()})
	})
	b.Run("certificate", func(b *testing.B) {
		// Assertions are signed before the timed loop (the load generator shares
		// the cores); reusing them within their lifetime is allowed, as MSAL Python does.
		bodies := make([]string, 64)
		for i := range bodies {
			bodies[i] = assertionForm(f.certApp, goAssertion(b, good, f.certApp, f.tokenURL(), time.Now()), f.seed.Scope).Encode()
		}
		run(b, bodies)
	})
}
