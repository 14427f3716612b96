package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestErrorText(t *testing.T) {
	cause := errors.New("dial tcp 127.0.0.1:81: i/o timeout")
	tests := []struct {
		err        *Error
		want, kind string
		status     int
	}{
		{&Error{Kind: ConnectTimeout, Origin: "web", Attempts: 3, Err: cause},
			`fetch origin "web": connect timeout after 3 attempts: dial tcp 127.0.0.1:81: i/o timeout`, "origin-connect-timeout", 504},
		{&Error{Kind: Connect, Origin: "web", Attempts: 1, Err: errors.New("refused")},
			`fetch origin "web": connect failed: refused`, "origin-connect-error", 502},
		{&Error{Kind: DNS, Origin: "a", Err: errors.New("no such host")}, `fetch origin "a": DNS lookup failed: no such host`, "origin-dns-error", 502},
		{&Error{Kind: TLS, Origin: "a", Err: errors.New("x509")}, `fetch origin "a": TLS handshake failed: x509`, "origin-tls-error", 502},
		{&Error{Kind: ResponseTimeout, Origin: "a", Err: errors.New("t")}, `fetch origin "a": response timeout: t`, "origin-response-timeout", 504},
		{&Error{Kind: Protocol, Origin: "a", Err: errors.New("p")}, `fetch origin "a": malformed response: p`, "origin-protocol-error", 502},
		{&Error{Kind: Truncated, Origin: "a", Err: io.ErrUnexpectedEOF}, `fetch origin "a": body truncated: unexpected EOF`, "origin-body-truncated", 502},
		{&Error{Kind: Canceled, Origin: "a"}, `fetch origin "a": canceled`, "origin-canceled", 502},
		{&Error{Kind: Invalid, Origin: "a", Err: errors.New("x")}, `fetch origin "a": invalid request: x`, "origin-invalid-request", 502},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if got := tt.err.Kind.String(); got != tt.kind {
				t.Errorf("Kind.String() = %q, want %q", got, tt.kind)
			}
			wrapped := fmt.Errorf("edge: %w", tt.err)
			if got := StatusFor(wrapped); got != tt.status {
				t.Errorf("StatusFor = %d, want %d", got, tt.status)
			}
			if tt.err.Err != nil && !errors.Is(wrapped, tt.err.Err) {
				t.Error("the cause does not unwrap")
			}
		})
	}
	if StatusFor(nil) != 0 || StatusFor(errors.New("other")) != 502 {
		t.Error("StatusFor(nil) must be 0 and a foreign error 502")
	}
	if !strings.HasPrefix(ErrorKind(200).String(), "origin-error") {
		t.Error("an unknown kind has no token")
	}
	for k := Unknown; k <= Invalid; k++ {
		if got, ok := ParseErrorKind(k.String()); !ok || got != k {
			t.Errorf("ParseErrorKind(%q) = %v %v", k.String(), got, ok)
		}
	}
	if _, ok := ParseErrorKind("origin-status-503"); ok {
		t.Error("a status token is no error kind")
	}
}

// TestNoUserAgent: a client made for tier-to-tier requests adds no
// User-Agent of its own.
func TestNoUserAgent(t *testing.T) {
	got := make(chan []string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header["User-Agent"] }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	o := &Origin{ID: "o", DomainName: u.Hostname(), HTTPPort: port}
	c := NewClient(ClientOptions{NoUserAgent: true})
	defer c.CloseIdle()
	for _, h := range []http.Header{{}, {"User-Agent": {"curl/8"}}} {
		resp, err := c.Do(context.Background(), &Target{ID: "o", Members: []*Origin{o}}, &Request{Path: "/", Header: h})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ua := <-got; !slices.Equal(ua, h["User-Agent"]) {
			t.Errorf("sent User-Agent %q for a request with %q", ua, h["User-Agent"])
		}
	}
}

// endless is a body that always has data, with no I/O.
type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }
func (endless) Close() error               { return nil }

func newTestBody() *body {
	ctx, cancel := context.WithCancelCause(context.Background())
	return newBody(endless{}, "web", time.Minute, ctx, cancel)
}

func TestBodyReadDoesNotAllocate(t *testing.T) {
	b := newTestBody()
	defer b.Close()
	buf := make([]byte, 32<<10)
	if n := testing.AllocsPerRun(100, func() { b.Read(buf) }); n != 0 {
		t.Errorf("body.Read allocates %v times per call", n)
	}
}

func BenchmarkBodyRead(b *testing.B) {
	body := newTestBody()
	defer body.Close()
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		body.Read(buf)
	}
}
