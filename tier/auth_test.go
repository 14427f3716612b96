package tier

import (
	"testing"
	"time"
)

func TestAuth(t *testing.T) {
	secret := []byte("s3cret")
	now := time.Unix(1_800_000_000, 0)
	v := "peer; chain=fra-1"
	auth := Sign(secret, v, "GET", "www.example.com", "/a?b=1", now)
	if !Verify(secret, auth, v, "GET", "www.example.com", "/a?b=1", now.Add(30*time.Second)) {
		t.Fatal("a valid signature refused")
	}
	for name, ok := range map[string]bool{
		"other secret": Verify([]byte("other"), auth, v, "GET", "www.example.com", "/a?b=1", now),
		"other value":  Verify(secret, auth, "shield; chain=fra-1", "GET", "www.example.com", "/a?b=1", now),
		"other method": Verify(secret, auth, v, "POST", "www.example.com", "/a?b=1", now),
		"other host":   Verify(secret, auth, v, "GET", "evil.example.com", "/a?b=1", now),
		"other target": Verify(secret, auth, v, "GET", "www.example.com", "/a?b=2", now),
		"too old":      Verify(secret, auth, v, "GET", "www.example.com", "/a?b=1", now.Add(AuthSkew+time.Second)),
		"garbage":      Verify(secret, "t=x; mac=zz", v, "GET", "www.example.com", "/a?b=1", now),
		"empty":        Verify(secret, "", v, "GET", "www.example.com", "/a?b=1", now),
	} {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
}
