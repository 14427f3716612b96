package test

import (
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// TestCacheCommands: tern cache ls, stat and purge against a running edge.
func TestCacheCommands(t *testing.T) {
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		io.WriteString(w, r.URL.Path)
	})
	n := startTern(t, basicConfig(o, defaultBehavior))
	for _, p := range []string{"/img/a.png", "/img/b.png", "/index.html"} {
		n.get(p)
	}
	tern := func(args ...string) (string, error) {
		out, err := exec.Command(ternBin, append([]string{"cache", "--admin", n.Admin}, args...)...).CombinedOutput()
		return string(out), err
	}
	out, err := tern("ls", "-d", "site", "/img/")
	if err != nil || !strings.Contains(out, "/img/a.png") || !strings.Contains(out, "/img/b.png") || strings.Contains(out, "/index.html") {
		t.Fatalf("cache ls /img/: %v\n%s", err, out)
	}
	out, err = tern("stat")
	if err != nil || !strings.Contains(out, "memory") {
		t.Errorf("cache stat: %v\n%s", err, out)
	}
	out, err = tern("purge", "-d", "site", "/img/*")
	if err != nil || !strings.Contains(out, "purged /img/*") {
		t.Fatalf("cache purge: %v\n%s", err, out)
	}
	if resp, _ := n.get("/img/a.png"); resp.Header.Get("X-Cache") != "Miss from tern" {
		t.Errorf("after purge: %s", resp.Header.Get("X-Cache"))
	}
	if resp, _ := n.get("/index.html"); resp.Header.Get("X-Cache") != "Hit from tern" {
		t.Errorf("a path outside the purge was dropped: %s", resp.Header.Get("X-Cache"))
	}
	out, err = tern("purge", "-d", "site", "/a*b")
	if err == nil || !strings.Contains(out, "not its last character") {
		t.Errorf("purge of a bad path: %v\n%s", err, out)
	}
	out, err = tern("purge", "-d", "nope", "/x")
	if err == nil || !strings.Contains(out, `no distribution "nope"`) {
		t.Errorf("purge of an unknown distribution: %v\n%s", err, out)
	}
}
