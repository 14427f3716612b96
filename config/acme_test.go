package config

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// parseACME decodes an edge.tls.acme section as the config file decoder
// does (unknown fields refused) and applies its defaults.
func parseACME(t *testing.T, src string) *ACME {
	t.Helper()
	var a ACME
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	dec.KnownFields(true)
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("decode %q: %v", src, err)
	}
	a.applyDefaults()
	return &a
}

func acmeProblems(a *ACME) []*FieldError {
	var p problems
	a.validate(&p, "edge.tls.acme")
	var out []*FieldError
	for _, e := range p {
		out = append(out, e.(*FieldError))
	}
	return out
}

func TestACMEDefaultsAndFields(t *testing.T) {
	a := parseACME(t, `{agree_tos: true, email: ops@example.com, renew_before: 720h, challenges: [tls-alpn-01], ca_roots: /etc/tern/ca.pem}`)
	if probs := acmeProblems(a); len(probs) != 0 {
		t.Fatalf("valid section: %v", probs)
	}
	if a.DirectoryURL != DefaultACMEDirectory {
		t.Errorf("directory_url default %q, want Let's Encrypt's", a.DirectoryURL)
	}
	if a.RenewBefore.Std() != 720*time.Hour {
		t.Errorf("renew_before %v", a.RenewBefore)
	}
	if a.RenewInterval.Std() != DefaultACMERenewInterval {
		t.Errorf("renew_interval default %v, want %v", a.RenewInterval, DefaultACMERenewInterval)
	}
	if got := a.ACMEChallenges(); len(got) != 1 || got[0] != ChallengeTLSALPN01 {
		t.Errorf("challenges %v", got)
	}
	if got := parseACME(t, `{agree_tos: true}`).ACMEChallenges(); len(got) != 2 {
		t.Errorf("default challenges %v, want both", got)
	}

	if dir, err := a.StorageDir("/var/lib/tern"); err != nil || dir != filepath.Join("/var/lib/tern", "acme") {
		t.Errorf("storage default under the data dir: %q, %v", dir, err)
	}
	if _, err := a.StorageDir(""); err == nil || !strings.Contains(err.Error(), "edge.tls.acme.storage") {
		t.Errorf("no storage and no data dir: %v, want an error naming edge.tls.acme.storage", err)
	}
	a.Storage = "/srv/acme"
	if dir, err := a.StorageDir("/var/lib/tern"); err != nil || dir != "/srv/acme" {
		t.Errorf("storage set: %q, %v", dir, err)
	}
}

func TestACMEValidate(t *testing.T) {
	for _, tc := range []struct {
		src, field, says string
	}{
		{`{}`, "edge.tls.acme.agree_tos", "must be true"},
		{`{agree_tos: true, directory_url: "http://ca.example/dir"}`, "edge.tls.acme.directory_url", "https://"},
		{`{agree_tos: true, directory_url: "ca.example/dir"}`, "edge.tls.acme.directory_url", "https://"},
		{`{agree_tos: true, email: "not an address"}`, "edge.tls.acme.email", "email address"},
		{`{agree_tos: true, email: "Ops <ops@example.com>"}`, "edge.tls.acme.email", "email address"},
		{`{agree_tos: true, challenges: [dns-01]}`, "edge.tls.acme.challenges[0]", "DNS-01 is not offered"},
		{`{agree_tos: true, challenges: [http-01, http-01]}`, "edge.tls.acme.challenges[1]", "twice"},
		{`{agree_tos: true, renew_before: -1h}`, "edge.tls.acme.renew_before", "negative"},
		{`{agree_tos: true, renew_interval: 500ms}`, "edge.tls.acme.renew_interval", "shorter than 1s"},
		{"{agree_tos: true, storage: \"a\\nb\"}", "edge.tls.acme.storage", "not a file path"},
	} {
		probs := acmeProblems(parseACME(t, tc.src))
		if len(probs) != 1 || probs[0].Field != tc.field || !strings.Contains(probs[0].Problem, tc.says) {
			t.Errorf("%s: problems %v, want one on %s saying %q", tc.src, probs, tc.field, tc.says)
		}
	}
	var a ACME
	dec := yaml.NewDecoder(strings.NewReader(`{agree_tos: true, directory: "https://x/"}`))
	dec.KnownFields(true)
	if err := dec.Decode(&a); err == nil {
		t.Error("an unknown field (directory) was accepted")
	}
}
