package edge

import (
	"bytes"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/terncdn/tern/collapse"
	"github.com/terncdn/tern/origin"
	"github.com/terncdn/tern/telemetry"
	"github.com/terncdn/tern/tier"
)

// Error tokens Tern's edge sends in X-Tern-Error and logs; the origin's own
// come from origin.ErrorKind.
const (
	errNoDistribution   = "no-distribution"
	errHTTPSOnly        = "https-only"
	errTLSPolicy        = "tls-policy"
	errMethodNotAllowed = "method-not-allowed"
	errOriginTruncated  = "origin-truncated"
	errViewerStalled    = "viewer-stalled"
	errOrigin           = "origin-error"
)

// failOrigin answers a request whose fetch failed: 502 or 504 as CloudFront
// does, with the cause named.
func (s *Server) failOrigin(x *exchange, err error) {
	x.detail = detailedResult(err)
	status := origin.StatusFor(err)
	if status == 0 {
		status = http.StatusBadGateway
	}
	s.fail(x, status, errorToken(err), err)
}

// observeOriginError counts one failed origin fetch.
func (s *Server) observeOriginError(dist string, err error) {
	var oe *origin.Error
	if s.metrics != nil && errors.As(err, &oe) {
		s.metrics.ObserveOriginError(dist, oe.Origin, detailedResult(err))
	}
}

// detailedResult is CloudFront's x-edge-detailed-result-type for a failed
// fetch.
func detailedResult(err error) string {
	var oe *origin.Error
	if !errors.As(err, &oe) {
		if errors.Is(err, collapse.ErrStalled) {
			return telemetry.DetailedSlowReaderOriginError
		}
		return telemetry.DetailedOriginError
	}
	switch oe.Kind {
	case origin.DNS:
		return telemetry.DetailedOriginDNSError
	case origin.Connect, origin.ConnectTimeout, origin.TLS, origin.Certificate:
		return telemetry.DetailedOriginConnectError
	case origin.ResponseTimeout, origin.Truncated:
		return telemetry.DetailedOriginReadError
	case origin.Protocol:
		return telemetry.DetailedOriginInvalidResponseError
	case origin.Canceled:
		return telemetry.DetailedClientHungUpRequest
	}
	return telemetry.DetailedOriginCommError
}

func errorToken(err error) string {
	var oe *origin.Error
	if errors.As(err, &oe) {
		return oe.Kind.String()
	}
	var se *originStatusError
	if errors.As(err, &se) {
		return "origin-status-" + strconv.Itoa(se.status)
	}
	if errors.Is(err, collapse.ErrStalled) {
		return errViewerStalled
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errOriginTruncated
	}
	return errOrigin
}

// markOriginError gives an origin's error status the Error result, as
// CloudFront's X-Cache does, with the status as the cause.
func markOriginError(x *exchange, status int) {
	if status >= 400 && x.result != resultError {
		x.detail = x.result.String()
		x.result = resultError
		x.errTok = "origin-status-" + strconv.Itoa(status)
	}
}

// fail is the one place an edge error becomes a response: the
// distribution's custom error response if it has one for the status, else a
// short page. Either way X-Tern-Error names the cause and the error log
// gets a line with the request id.
func (s *Server) fail(x *exchange, status int, token string, err error) {
	x.result, x.errTok, x.err = resultError, token, err
	slog.Warn("request failed", "id", x.id, "distribution", distID(x), "method", x.r.Method,
		"uri", x.r.URL.RequestURI(), "status", status, "cause", token, "error", err)
	if x.dist != nil {
		if er := x.dist.errorResponses[status]; er != nil && !x.errorPage {
			s.errorResponse(x, status, er)
			return
		}
	}
	h := x.w.Header()
	for k := range h {
		delete(h, k)
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if x.errorPage {
		markTierErrorResponse(x, h, status)
	}
	s.decorate(x, h)
	body := "<!DOCTYPE html><title>" + strconv.Itoa(status) + " " + http.StatusText(status) +
		"</title><h1>" + strconv.Itoa(status) + " " + http.StatusText(status) +
		"</h1><p>The request could not be satisfied: " + html.EscapeString(token) +
		".</p><p>Request id: " + x.id + "</p>\n"
	h.Set("Content-Length", strconv.Itoa(len(body)))
	x.w.WriteHeader(status)
	if x.r.Method != http.MethodHead {
		x.w.Write([]byte(body))
	}
}

func distID(x *exchange) string {
	if x.dist == nil {
		return ""
	}
	return x.dist.id
}

// maxErrorPage bounds the custom error page held in memory for one answer.
const maxErrorPage = 1 << 20

// errorResponse answers with the distribution's custom error response: the
// page at response_page_path, fetched through the cache like any object,
// with response_code as the status (CloudFront's custom error responses).
func (s *Server) errorResponse(x *exchange, status int, er *errorResponse) {
	code := status
	if er.responseCode != 0 {
		code = er.responseCode
	}
	if x.result != resultError {
		x.detail, x.result = x.result.String(), resultError
	}
	if x.errTok == "" {
		x.errTok = "origin-status-" + strconv.Itoa(status)
	}
	if er.pagePath == "" {
		x.errorPage = true
		s.fail(x, code, x.errTok, x.err)
		return
	}

	sub := x.r.Clone(x.r.Context())
	sub.Method = http.MethodGet
	sub.URL.Path, sub.URL.RawPath, sub.URL.RawQuery = er.pagePath, "", ""
	sub.Body, sub.ContentLength = http.NoBody, 0
	for _, k := range []string{"Range", "If-Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since"} {
		sub.Header.Del(k)
	}
	page := &captureWriter{header: make(http.Header)}
	y := s.begin(page, sub)
	y.errorPage = true
	y.dist = x.dist
	y.path = er.pagePath
	y.behavior = x.dist.behaviorFor(er.pagePath)
	if y.behavior.cacheable(http.MethodGet) {
		s.serveCached(y)
	} else {
		s.pass(y)
	}
	s.release(y)

	if page.status != http.StatusOK || page.overflow {
		x.errorPage = true
		s.fail(x, code, x.errTok, x.err)
		return
	}
	h := x.w.Header()
	for k := range h {
		delete(h, k)
	}
	for _, k := range []string{"Content-Type", "Content-Encoding", "Vary", "Cache-Control", "Expires", "Last-Modified", "Etag"} {
		if v, ok := page.header[k]; ok {
			h[k] = v
		}
	}
	h.Set("Content-Length", strconv.Itoa(page.body.Len()))
	markTierErrorResponse(x, h, status)
	s.decorate(x, h)
	x.w.WriteHeader(code)
	if x.r.Method != http.MethodHead {
		x.w.Write(page.body.Bytes())
	}
}

// markTierErrorResponse tells the node that sent a tier-to-tier request
// that this answer is a custom error response in place of the origin's
// (for status), which it must not store as the object. It looks at the
// request's header itself, not at x.tierHop, so that a node without a
// tier membership of its own marks them too.
func markTierErrorResponse(x *exchange, h http.Header, status int) {
	if _, ok := x.r.Header[tier.Header]; ok {
		h.Set(tier.ErrorResponseHeader, strconv.Itoa(status))
	}
}

// release returns an internal exchange to the pool without accounting: its
// outer request is the one logged.
func (s *Server) release(x *exchange) {
	if x.hints != nil {
		x.hints.close()
	}
	*x = exchange{key: x.key[:0], vkey: x.vkey[:0]}
	exchanges.Put(x)
}

// captureWriter holds a small response in memory (a custom error page).
type captureWriter struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	overflow bool
}

func (c *captureWriter) Header() http.Header { return c.header }

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 && code >= 200 {
		c.status = code
	}
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.body.Len()+len(p) > maxErrorPage {
		c.overflow = true
		return 0, errors.New("custom error page larger than 1 MiB")
	}
	return c.body.Write(p)
}
