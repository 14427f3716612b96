package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateReadsCAFile: validate checks what serve would, the files a
// configuration names included.
func TestValidateReadsCAFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tern.yaml")
	ca := filepath.Join(dir, "missing-ca.pem")
	err := os.WriteFile(cfg, []byte(`
distributions:
  - id: site
    origins:
      - {id: o, domain_name: origin.example.com, protocol_policy: https-only, tls: {ca_file: `+ca+`}}
    default_cache_behavior: {target_origin_id: o}
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := validateCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--config", cfg})
	err = cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), `origin "o": tls.ca_file`) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("validate with a missing ca_file: %v", err)
	}
}
