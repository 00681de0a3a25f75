package wire

import "testing"

// BenchmarkSecretsAdd is what appcred.New spends on its client secret: one
// Add, with no error or log line ever scrubbed.
func BenchmarkSecretsAdd(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var s Secrets
		s.Add(longSecret)
	}
}

// BenchmarkSecretsAddRedact is an Add followed by the first Redact of a short
// error text: the whole cost of the first scrub.
func BenchmarkSecretsAddRedact(b *testing.B) {
	b.ReportAllocs()
	text := "AADSTS7000215: Invalid client secret provided: " + longSecret[5:30]
	for b.Loop() {
		var s Secrets
		s.Add(longSecret)
		if s.Redact(text) == text {
			b.Fatal("the secret was not redacted")
		}
	}
}
