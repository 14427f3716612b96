package test

import (
	"bytes"
	"crypto/tls"
	"io"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestHTTP2SchemeHTTPOverTLS: an HTTP/2 request that says :scheme http on
// a TLS connection is still a request over TLS. net/http's HTTP/2 server
// leaves r.TLS nil for it, and net/http's TLS listener then fills it in
// from the connection (initALPNRequest); were it left nil, the request
// would skip the check of the Host's security policy (a TLS 1.2
// connection made under the SNI of a TLSv1.2_2021 distribution would
// reach a TLSv1.3_2025 one) and be redirected or refused as plain HTTP.
func TestHTTP2SchemeHTTPOverTLS(t *testing.T) {
	_, tlsAddr, ca := weakStrongTern(t, "TLSv1.3_2025")
	for _, tc := range []struct{ scheme, authority, want string }{
		{"https", "strong.test", "421"},
		{"http", "strong.test", "421"},
		{"http", "weak.test", "200"},
	} {
		c, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: ca.Pool, ServerName: "weak.test",
			MaxVersion: tls.VersionTLS12, NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, http2.ClientPreface)
		fr := http2.NewFramer(c, c)
		fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		fr.WriteSettings()
		var hb bytes.Buffer
		enc := hpack.NewEncoder(&hb)
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", tc.scheme}, {":authority", tc.authority}, {":path", "/x"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		status := ""
		for status == "" {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf(":scheme %s, :authority %s: %v", tc.scheme, tc.authority, err)
			}
			if h, ok := f.(*http2.MetaHeadersFrame); ok && h.StreamID == 1 {
				status = h.PseudoValue("status")
			}
			if r, ok := f.(*http2.RSTStreamFrame); ok && r.StreamID == 1 {
				status = "RST " + r.ErrCode.String()
			}
		}
		if status != tc.want {
			t.Errorf(":scheme %s, :authority %s over TLS 1.2 under SNI weak.test: %s, want %s", tc.scheme, tc.authority, status, tc.want)
		}
	}
}
