package tier

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// AuthHeader authenticates a Tern-Tier header: nodes of one control plane
// share a secret (kept in its configuration bucket), and a node trusts a
// Tern-Tier header only with a valid AuthHeader beside it. Without, the
// request is a viewer's: it cannot skip a tier, read cache tags, be
// refused as a loop or hold a node on a fence.
//
//	Tern-Tier-Auth: t=1767225600; mac=<hex HMAC-SHA256>
//
// The MAC covers t, the Tern-Tier value, the method, the Host and the
// request target; t must be within AuthSkew of the receiver's clock.
const AuthHeader = "Tern-Tier-Auth"

// AuthSkew is how far a signature's time may be from the receiver's clock.
const AuthSkew = time.Minute

// Sign returns the AuthHeader value for a request with Tern-Tier value
// tierValue, method, host and target (path and query as sent), at now.
func Sign(secret []byte, tierValue, method, host, target string, now time.Time) string {
	t := strconv.FormatInt(now.Unix(), 10)
	return "t=" + t + "; mac=" + hex.EncodeToString(mac(secret, t, tierValue, method, host, target))
}

// Verify reports whether auth is a valid AuthHeader value for the request.
func Verify(secret []byte, auth, tierValue, method, host, target string, now time.Time) bool {
	var t, m string
	for p := range strings.SplitSeq(auth, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch name {
		case "t":
			t = value
		case "mac":
			m = value
		}
	}
	sec, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(sec, 0)); d > AuthSkew || d < -AuthSkew {
		return false
	}
	got, err := hex.DecodeString(m)
	if err != nil {
		return false
	}
	return hmac.Equal(got, mac(secret, t, tierValue, method, host, target))
}

func mac(secret []byte, parts ...string) []byte {
	h := hmac.New(sha256.New, secret)
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}
