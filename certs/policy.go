package certs

import (
	"crypto/tls"
	"fmt"
	"slices"

	"github.com/terncdn/tern/config"
)

// Policy is what a security policy allows: the lowest TLS version and the
// TLS 1.0–1.2 cipher suites, in the server's order of preference. TLS 1.3
// suites are not configurable in crypto/tls; every policy allows TLS 1.3.
type Policy struct {
	MinVersion   uint16
	CipherSuites []uint16
}

// Suites of CloudFront's table "Supported protocols and ciphers between
// viewers and CloudFront", by the last policy that still has them; those
// crypto/tls does not implement (ECDHE-*-AES256-SHA384, RC4-MD5) are left
// out, as config.TLS.SecurityPolicy says.
var (
	// TLSv1.2_2025: ECDHE with AES-GCM.
	suites2025 = []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	}
	// In every policy: AEAD suites with forward secrecy.
	suites2021 = []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
	// Up to TLSv1.2_2019: ECDHE with CBC and SHA-256.
	suites2019 = []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	}
	// Up to TLSv1.2_2018 (and in the older TLSv1.1_2016 and TLSv1_2016):
	// ECDHE with CBC and SHA-1, and RSA key exchange.
	suites2018 = []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	}
	// TLSv1 only: 3DES.
	suitesTLSv1 = []uint16{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}
)

func concat(lists ...[]uint16) []uint16 {
	var out []uint16
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

var policies = map[string]Policy{
	config.PolicyTLSv13_2025: {tls.VersionTLS13, nil}, // TLS 1.3 suites are not configurable
	config.PolicyTLSv12_2025: {tls.VersionTLS12, concat(suites2025)},
	config.PolicyTLSv12_2021: {tls.VersionTLS12, concat(suites2021)},
	config.PolicyTLSv12_2019: {tls.VersionTLS12, concat(suites2021, suites2019)},
	config.PolicyTLSv12_2018: {tls.VersionTLS12, concat(suites2021, suites2019, suites2018)},
	config.PolicyTLSv11_2016: {tls.VersionTLS11, concat(suites2021, suites2019, suites2018)},
	config.PolicyTLSv1_2016:  {tls.VersionTLS10, concat(suites2021, suites2019, suites2018)},
	config.PolicyTLSv1:       {tls.VersionTLS10, concat(suites2021, suites2019, suites2018, suitesTLSv1)},
}

// Allows reports whether a connection that negotiated version and suite
// meets the policy: a version no lower than its lowest and, below TLS
// 1.3, one of its cipher suites. The edge asks it of each request's
// connection, whose handshake followed the policy of the SNI, which need
// not be the policy of the distribution the Host header names.
func (p Policy) Allows(version, suite uint16) bool {
	if version < p.MinVersion {
		return false
	}
	return version >= tls.VersionTLS13 || slices.Contains(p.CipherSuites, suite)
}

// PolicyFor returns the settings of the security policy called name (one
// of config.SecurityPolicies).
func PolicyFor(name string) (Policy, error) {
	p, ok := policies[name]
	if !ok {
		return Policy{}, fmt.Errorf("unknown security policy %q", name)
	}
	return p, nil
}
