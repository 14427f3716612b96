package origin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
)

// ErrorKind names what went wrong on the way to an origin.
type ErrorKind uint8

// The kinds of Error. The comment after each is its String token.
const (
	// Unknown is a failure that fits no other kind (origin-error).
	Unknown ErrorKind = iota
	// DNS: the origin's name did not resolve (origin-dns-error).
	DNS
	// Connect: the TCP connection was refused or broke while connecting
	// (origin-connect-error).
	Connect
	// ConnectTimeout: no connection (TCP and TLS handshake) within
	// ConnectionTimeout (origin-connect-timeout).
	ConnectTimeout
	// TLS: the TLS handshake failed, e.g. an untrusted certificate
	// (origin-tls-error).
	TLS
	// ResponseTimeout: no response head within ResponseTimeout of sending
	// the request, or no body data for ResponseTimeout
	// (origin-response-timeout).
	ResponseTimeout
	// Protocol: the origin answered something that is not an HTTP
	// response, or closed the connection instead of answering
	// (origin-protocol-error).
	Protocol
	// Truncated: the body ended early or the connection broke mid-body
	// (origin-body-truncated).
	Truncated
	// Canceled: the caller's context ended (origin-canceled).
	Canceled
	// Invalid: the Target, Origin or Request cannot be sent
	// (origin-invalid-request).
	Invalid
	// Certificate: the TLS handshake failed because the origin's
	// certificate was not accepted: not signed by a trusted authority,
	// not for the name checked, or expired (origin-certificate-error).
	// Other handshake failures (no common protocol version or cipher)
	// are TLS.
	Certificate
)

var kindTokens = [...]string{
	Unknown:         "origin-error",
	DNS:             "origin-dns-error",
	Connect:         "origin-connect-error",
	ConnectTimeout:  "origin-connect-timeout",
	TLS:             "origin-tls-error",
	ResponseTimeout: "origin-response-timeout",
	Protocol:        "origin-protocol-error",
	Truncated:       "origin-body-truncated",
	Canceled:        "origin-canceled",
	Invalid:         "origin-invalid-request",
	Certificate:     "origin-certificate-error",
}

var kindPhrases = [...]string{
	Unknown:         "error",
	DNS:             "DNS lookup failed",
	Connect:         "connect failed",
	ConnectTimeout:  "connect timeout",
	TLS:             "TLS handshake failed",
	ResponseTimeout: "response timeout",
	Protocol:        "malformed response",
	Truncated:       "body truncated",
	Canceled:        "canceled",
	Invalid:         "invalid request",
	Certificate:     "certificate verification failed",
}

// String returns a short token for a response header or a log field, such
// as "origin-connect-timeout".
func (k ErrorKind) String() string {
	if int(k) < len(kindTokens) {
		return kindTokens[k]
	}
	return "origin-error-" + strconv.Itoa(int(k))
}

// ParseErrorKind returns the kind whose String is token, as another
// Tern node names a failure in its X-Tern-Error header.
func ParseErrorKind(token string) (ErrorKind, bool) {
	for k, t := range kindTokens {
		if t == token {
			return ErrorKind(k), true
		}
	}
	return 0, false
}

// Error is every failure of Do, Tunnel and Response body reads.
type Error struct {
	Kind ErrorKind
	// Origin is the ID of the origin (or target) being fetched.
	Origin string
	// Attempts is how many connection attempts were made, for the connect
	// kinds.
	Attempts int
	Err      error
}

// Error reads like
// `fetch origin "web": connect timeout after 3 attempts: dial tcp 127.0.0.1:81: i/o timeout`.
func (e *Error) Error() string {
	phrase := "error"
	if int(e.Kind) < len(kindPhrases) {
		phrase = kindPhrases[e.Kind]
	}
	s := "fetch origin " + strconv.Quote(e.Origin) + ": " + phrase
	if e.Attempts > 1 {
		s += " after " + strconv.Itoa(e.Attempts) + " attempts"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Timeout reports whether the error is a timeout, as net.Error does.
func (e *Error) Timeout() bool { return e.Kind == ConnectTimeout || e.Kind == ResponseTimeout }

// StatusFor returns the status a viewer gets for err, as CloudFront answers:
// 504 Gateway Timeout for timeouts, 502 Bad Gateway for everything else
// (connect, DNS, TLS, malformed responses). It returns 0 for a nil err.
func StatusFor(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) && e.Timeout() {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// dialError carries the outcome of a pool's connection attempts through
// net/http's Transport to classify.
type dialError struct {
	kind     ErrorKind
	attempts int
	err      error
}

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// classify turns an error of Transport.RoundTrip into an *Error. ctx is the
// caller's context.
func classify(ctx context.Context, id string, err error) *Error {
	if ctx.Err() != nil {
		return &Error{Kind: Canceled, Origin: id, Err: err}
	}
	var de *dialError
	if errors.As(err, &de) {
		return &Error{Kind: de.kind, Origin: id, Attempts: de.attempts, Err: de.err}
	}
	// Transport.ResponseHeaderTimeout reports a net.Error timeout.
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Kind: ResponseTimeout, Origin: id, Err: err}
	}
	return &Error{Kind: Protocol, Origin: id, Err: err}
}

// dialKind classifies one failed connection attempt made under actx, a
// per-attempt child of the request context ctx.
func dialKind(ctx, actx context.Context, err error) ErrorKind {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return DNS
	case ctx.Err() != nil:
		return Canceled
	case errors.Is(actx.Err(), context.DeadlineExceeded):
		return ConnectTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ConnectTimeout
	}
	return Connect
}
