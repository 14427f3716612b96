package origin

import (
	"net/http"
	"net/textproto"
	"strings"
)

// hopByHop are the fields that describe one connection, not the message
// (RFC 9110 §7.6.1), in canonical form. Proxy-Authorization and
// Proxy-Authenticate are consumed by the proxy they address (RFC 9110
// §11.7.1, §11.7.2); Proxy-Connection and Keep-Alive are legacy connection
// options (RFC 9110 §7.6.1).
var hopByHop = [...]string{
	"Connection",
	"Keep-Alive",
	"Proxy-Connection",
	"Te",
	"Transfer-Encoding",
	"Upgrade",
	"Proxy-Authorization",
	"Proxy-Authenticate",
}

// isHopByHop reports whether the canonical name is a hop-by-hop field.
func isHopByHop(name string) bool {
	for _, h := range hopByHop {
		if name == h {
			return true
		}
	}
	return false
}

// connectionOption reports whether a Connection field value lists name
// (RFC 9110 §7.6.1: a proxy removes every field the Connection field names).
func connectionOption(connection []string, name string) bool {
	for _, v := range connection {
		for opt := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(opt), name) {
				return true
			}
		}
	}
	return false
}

// removeHopByHop deletes the hop-by-hop fields from h, and the fields the
// Connection field names (RFC 9110 §7.6.1). With keepUpgrade it leaves
// Connection and Upgrade, for a protocol switch (RFC 9110 §7.8).
func removeHopByHop(h http.Header, keepUpgrade bool) {
	if conn := h["Connection"]; len(conn) > 0 {
		for _, v := range conn {
			for opt := range strings.SplitSeq(v, ",") {
				opt = textproto.TrimString(opt)
				if opt == "" || (keepUpgrade && strings.EqualFold(opt, "Upgrade")) {
					continue
				}
				if _, ok := h[opt]; ok {
					delete(h, opt)
				} else {
					h.Del(opt)
				}
			}
		}
		if keepUpgrade {
			h["Connection"] = conn
		}
	}
	for _, name := range hopByHop {
		if keepUpgrade && (name == "Connection" || name == "Upgrade") {
			continue
		}
		delete(h, name)
	}
}
