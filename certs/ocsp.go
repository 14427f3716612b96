package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/crypto/ocsp"
)

// OCSP stapling: a certificate whose chain holds its issuer and that names
// an OCSP server gets the server's response for it stapled to every
// handshake, so that viewers need not ask the CA themselves. A failure to
// fetch never stops serving: the certificate goes out without a staple (or
// with the last good one while that is still valid), and the fetch is
// tried again.

const (
	ocspTimeout    = 10 * time.Second
	ocspRetry      = 5 * time.Minute // after a failed fetch
	ocspNoNext     = time.Hour       // refresh of a response without NextUpdate
	ocspMaxBody    = 1 << 20
	ocspMinRefresh = time.Minute
)

// ocspState is a pair's stapling state.
type ocspState struct {
	next       time.Time // when to fetch again; zero: at the next refresh
	nextUpdate time.Time // the staple in service is valid until then
	failures   int       // since the last success, for logs
}

type ocspFetcher struct {
	client *http.Client
}

func (f *ocspFetcher) init() {
	f.client = &http.Client{Timeout: ocspTimeout}
}

// staple is the OCSP response to staple to cert, fetched now, and when to
// fetch the next: halfway to its NextUpdate (RFC 6960 §4.2.2.1), so that a
// responder down for a while does not leave viewers without one.
func (f *ocspFetcher) staple(ctx context.Context, cert *tls.Certificate, now time.Time) (raw []byte, resp *ocsp.Response, next time.Time, err error) {
	leaf := cert.Leaf
	if len(leaf.OCSPServer) == 0 {
		return nil, nil, time.Time{}, errNoOCSP
	}
	if len(cert.Certificate) < 2 {
		return nil, nil, time.Time{}, errNoIssuer
	}
	issuer, err := x509.ParseCertificate(cert.Certificate[1])
	if err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("issuer: %w", err)
	}
	req, err := ocsp.CreateRequest(leaf, issuer, nil)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	var lastErr error
	for _, url := range leaf.OCSPServer {
		raw, resp, err := f.fetch(ctx, url, req, leaf, issuer)
		if err != nil {
			lastErr = fmt.Errorf("%s: %w", url, err)
			continue
		}
		if resp.Status != ocsp.Good {
			return nil, resp, now.Add(ocspRetry), fmt.Errorf("%s: the certificate's status is %s", url, ocspStatus(resp.Status))
		}
		if !resp.NextUpdate.IsZero() && !now.Before(resp.NextUpdate) {
			lastErr = fmt.Errorf("%s: the response expired at %s", url, resp.NextUpdate.UTC().Format(time.RFC3339))
			continue
		}
		next := now.Add(ocspNoNext)
		if !resp.NextUpdate.IsZero() {
			next = now.Add(max(resp.NextUpdate.Sub(now)/2, ocspMinRefresh))
		}
		return raw, resp, next, nil
	}
	return nil, nil, now.Add(ocspRetry), lastErr
}

var (
	errNoOCSP   = errors.New("the certificate names no OCSP server")
	errNoIssuer = errors.New("the certificate file has no issuer after the certificate, which OCSP requests need (use the full chain)")
)

func ocspStatus(s int) string {
	switch s {
	case ocsp.Good:
		return "good"
	case ocsp.Revoked:
		return "revoked"
	}
	return "unknown"
}

func (f *ocspFetcher) fetch(ctx context.Context, url string, req []byte, leaf, issuer *x509.Certificate) ([]byte, *ocsp.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, ocspTimeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req))
	if err != nil {
		return nil, nil, err
	}
	hr.Header.Set("Content-Type", "application/ocsp-request")
	hr.Header.Set("Accept", "application/ocsp-response")
	res, err := f.client.Do(hr)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("status %s", res.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, ocspMaxBody))
	if err != nil {
		return nil, nil, err
	}
	resp, err := ocsp.ParseResponseForCert(raw, leaf, issuer)
	if err != nil {
		return nil, nil, err
	}
	return raw, resp, nil
}

// refreshOCSP fetches the staples that are due. The fetches run without
// the store's lock; a pair reloaded meanwhile drops the staple fetched for
// its old certificate.
func (s *Store) refreshOCSP(ctx context.Context) {
	now := s.now()
	type due struct {
		p    *pair
		cert *tls.Certificate
	}
	var todo []due
	s.mu.Lock()
	for _, p := range s.pairs {
		if !p.ocsp.next.IsZero() && now.Before(p.ocsp.next) {
			continue
		}
		todo = append(todo, due{p, p.cert.Load()})
	}
	s.mu.Unlock()
	for _, d := range todo {
		raw, resp, next, err := s.ocsp.staple(ctx, d.cert, now)
		s.mu.Lock()
		if d.p.cert.Load().Leaf != d.cert.Leaf {
			s.mu.Unlock()
			continue // reloaded meanwhile
		}
		st := &d.p.ocsp
		switch {
		case errors.Is(err, errNoOCSP), errors.Is(err, errNoIssuer):
			// Facts of the file: looked at again when it changes (or in
			// a day).
			if errors.Is(err, errNoIssuer) && st.next.IsZero() {
				slog.Info("OCSP stapling off for this certificate", "field", d.p.field, "reason", err)
			}
			st.next = now.Add(24 * time.Hour)
		case err != nil:
			st.failures++
			st.next = next
			if st.next.IsZero() {
				st.next = now.Add(ocspRetry)
			}
			cur := d.p.cert.Load()
			if cur.OCSPStaple != nil && (st.nextUpdate.IsZero() || !now.Before(st.nextUpdate) || resp != nil) {
				// The old staple expired, or the certificate is no longer
				// good: stop sending it.
				c := *cur
				c.OCSPStaple = nil
				d.p.cert.Store(&c)
			}
			slog.Warn("OCSP staple not fetched; serving without a fresh one", "field", d.p.field, "failures", st.failures, "retry", st.next.Sub(now).Round(time.Second), "error", err)
		default:
			c := *d.p.cert.Load()
			c.OCSPStaple = raw
			d.p.cert.Store(&c)
			*st = ocspState{next: next, nextUpdate: resp.NextUpdate}
			slog.Debug("OCSP staple fetched", "field", d.p.field, "next_update", resp.NextUpdate)
		}
		s.mu.Unlock()
	}
}
