// Package certstest makes certificates for tests: a CA, certificates it
// issues for given names, written as PEM files, and an OCSP responder.
package certstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// CA is a certificate authority for tests.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Pool trusts the CA, for clients.
	Pool *x509.CertPool
	dir  string
	n    atomic.Int64
}

// NewCA makes a CA whose files go under t.TempDir().
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Tern Test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	ca := &CA{Cert: cert, Key: key, Pool: pool, dir: t.TempDir()}
	ca.n.Store(1)
	return ca
}

// Options change an issued certificate.
type Options struct {
	NotBefore, NotAfter time.Time // default: an hour ago, a day from now
	OCSPServer          string    // the OCSP responder's URL, if any
	NoChain             bool      // leave the CA's certificate out of the file
}

// Issued is a certificate and the files it was written to.
type Issued struct {
	Cert              *x509.Certificate
	CertFile, KeyFile string
	CertPEM, KeyPEM   []byte
}

// Issue makes a certificate for names and writes it (followed by the CA's
// certificate, the chain) and its key to new files.
func (ca *CA) Issue(t testing.TB, names []string, o Options) *Issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(24 * time.Hour)
	}
	serial := ca.n.Add(1)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	if o.OCSPServer != "" {
		tmpl.OCSPServer = []string{o.OCSPServer}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if !o.NoChain {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})...)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
	dir, err := os.MkdirTemp(ca.dir, "cert")
	if err != nil {
		t.Fatal(err)
	}
	is := &Issued{Cert: cert, CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), CertPEM: certPEM, KeyPEM: keyPEM}
	if err := os.WriteFile(is.CertFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(is.KeyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return is
}

// OCSPResponder answers OCSP requests for the CA's certificates on
// loopback: Good, unless Revoke was called for the serial number.
type OCSPResponder struct {
	URL      string
	ca       *CA
	mu       sync.Mutex
	revoked  map[string]bool
	requests atomic.Int64
	// Validity is how long each response is valid (NextUpdate - ThisUpdate).
	Validity time.Duration
	down     atomic.Bool
}

// NewOCSPResponder starts a responder, stopped with the test.
func (ca *CA) NewOCSPResponder(t testing.TB) *OCSPResponder {
	r := &OCSPResponder{ca: ca, revoked: make(map[string]bool), Validity: time.Hour}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// Revoke makes the responder answer Revoked for the certificate.
func (r *OCSPResponder) Revoke(c *x509.Certificate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revoked[c.SerialNumber.String()] = true
}

// SetDown makes the responder answer 503 (down true) or work again.
func (r *OCSPResponder) SetDown(down bool) { r.down.Store(down) }

// Requests is how many requests it has answered.
func (r *OCSPResponder) Requests() int64 { return r.requests.Load() }

func (r *OCSPResponder) serve(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	if r.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	oreq, err := ocsp.ParseRequest(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	status := ocsp.Good
	if r.revoked[oreq.SerialNumber.String()] {
		status = ocsp.Revoked
	}
	r.mu.Unlock()
	now := time.Now()
	tmpl := ocsp.Response{
		Status:       status,
		SerialNumber: oreq.SerialNumber,
		ThisUpdate:   now.Add(-time.Minute),
		NextUpdate:   now.Add(r.Validity),
	}
	if status == ocsp.Revoked {
		tmpl.RevokedAt = now.Add(-time.Minute)
	}
	resp, err := ocsp.CreateResponse(r.ca.Cert, r.ca.Cert, tmpl, r.ca.Key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(resp)
}
