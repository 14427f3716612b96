package origin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

// IsWebSocket reports whether viewer asks to switch to WebSocket
// (RFC 6455 §4.1: Upgrade: websocket, and Connection naming upgrade).
func IsWebSocket(viewer *http.Request) bool {
	return connectionOption(viewer.Header["Connection"], "Upgrade") &&
		strings.EqualFold(strings.TrimSpace(viewer.Header.Get("Upgrade")), "websocket")
}

// Tunnel relays a viewer's WebSocket upgrade to the first member of t and,
// when the origin switches protocols, copies bytes both ways until either
// side closes. r is the forwarded request (Forwarding.Apply); the viewer's
// Upgrade, Connection: Upgrade and Sec-WebSocket-* fields are added to it
// whatever the selections say.
//
// When the origin refuses (any status but 101), its response is relayed to
// w like any other. When the origin cannot be reached, Tunnel writes nothing
// and returns the *Error, for the edge to answer as it does for Do. Failover
// does not apply: a tunnel is never replayed.
func (c *Client) Tunnel(w http.ResponseWriter, viewer *http.Request, t *Target, r *Request) error {
	if t == nil || len(t.Members) == 0 {
		return &Error{Kind: Invalid, Err: errors.New("target has no members")}
	}
	o := t.Members[0]
	if !IsWebSocket(viewer) {
		return &Error{Kind: Invalid, Origin: o.ID, Err: errors.New("not a WebSocket upgrade request")}
	}
	if viewer.ProtoMajor != 1 {
		// RFC 8441 WebSocket over HTTP/2 cannot be hijacked.
		return &Error{Kind: Invalid, Origin: o.ID, Err: fmt.Errorf("WebSocket tunnel needs HTTP/1.1, viewer speaks %s", viewer.Proto)}
	}

	up := *r
	up.Header = r.Header.Clone()
	if up.Header == nil {
		up.Header = make(http.Header)
	}
	up.Header.Set("Connection", "Upgrade")
	up.Header.Set("Upgrade", viewer.Header.Get("Upgrade"))
	for name, vs := range viewer.Header {
		if len(name) > 14 && strings.EqualFold(name[:14], "Sec-Websocket-") {
			up.Header[http.CanonicalHeaderKey(name)] = vs
		}
	}
	up.Body, up.ContentLength = nil, 0
	up.OnEarlyHints = nil

	ctx := viewer.Context()
	resp, err := c.fetch(ctx, o, &up, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusSwitchingProtocols {
		for name, vs := range resp.Header {
			w.Header()[name] = vs
		}
		w.WriteHeader(resp.StatusCode)
		if _, err := io.Copy(w, resp.Body); err != nil {
			return fmt.Errorf("relay refusal of WebSocket upgrade from origin %q: %w", o.ID, err)
		}
		return nil
	}

	backend := resp.Body.(io.ReadWriteCloser)
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return &Error{Kind: Invalid, Origin: o.ID, Err: fmt.Errorf("hijack viewer connection: %w", err)}
	}
	defer conn.Close()
	if err := writeSwitch(brw.Writer, resp.Response); err != nil {
		return fmt.Errorf("relay 101 from origin %q: %w", o.ID, err)
	}
	return splice(ctx, conn, brw.Reader, backend)
}

// writeSwitch writes the origin's 101 head to the viewer.
func writeSwitch(w *bufio.Writer, res *http.Response) error {
	if _, err := w.WriteString("HTTP/1.1 101 Switching Protocols\r\n"); err != nil {
		return err
	}
	if err := res.Header.Write(w); err != nil {
		return err
	}
	if _, err := w.WriteString("\r\n"); err != nil {
		return err
	}
	return w.Flush()
}

// splice copies viewer→origin and origin→viewer until either direction ends
// or ctx does, then closes both connections so the other copy ends too.
// viewerIn holds what the viewer sent after its request, already buffered.
func splice(ctx context.Context, viewer net.Conn, viewerIn io.Reader, backend io.ReadWriteCloser) error {
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			viewer.Close()
			backend.Close()
		})
	}
	stop := context.AfterFunc(ctx, closeBoth)
	defer stop()

	errc := make(chan error, 2)
	go func() {
		_, err := io.Copy(backend, viewerIn)
		errc <- err
	}()
	go func() {
		_, err := io.Copy(viewer, backend)
		errc <- err
	}()
	first := <-errc
	closeBoth()
	<-errc
	if first != nil && !errors.Is(first, net.ErrClosed) && ctx.Err() == nil {
		return fmt.Errorf("relay WebSocket: %w", first)
	}
	return nil
}
