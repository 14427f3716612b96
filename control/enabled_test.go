package control

import (
	"testing"

	"github.com/terncdn/tern/config"
)

func TestWithEnabled(t *testing.T) {
	for _, c := range []struct {
		name    string
		doc     string
		enabled bool
		want    string // "" means: any text that decodes right (re-encoded)
	}{
		{"yaml, field present",
			"# media site\nid: media   # the id\nenabled: true # on\norigins: [{id: o, domain_name: example.org}]\n",
			false,
			"# media site\nid: media   # the id\nenabled: false # on\norigins: [{id: o, domain_name: example.org}]\n"},
		{"yaml, field absent, after a comment",
			"# media site\nid: media\norigins: [{id: o, domain_name: example.org}]\n",
			false,
			"# media site\nenabled: false\nid: media\norigins: [{id: o, domain_name: example.org}]\n"},
		{"yaml, yes is a bool too",
			"id: media\nenabled: yes\n",
			false,
			"id: media\nenabled: false\n"},
		{"yaml document marker",
			"---\nid: media\n",
			false,
			"---\nenabled: false\nid: media\n"},
		{"indented block mapping",
			"  id: media\n  comment: x\n",
			false,
			"  enabled: false\n  id: media\n  comment: x\n"},
		{"json, field present, after non-ASCII",
			`{"comment": "café ☕", "id": "media", "enabled": false}`,
			true,
			`{"comment": "café ☕", "id": "media", "enabled": true}`},
		{"json, field absent, one line",
			`{"id":"media"}`,
			false,
			`{"enabled": false, "id":"media"}`},
		{"json, field absent, pretty",
			"{\n  \"id\": \"media\",\n  \"aliases\": [\"a.example\"]\n}\n",
			false,
			"{\n  \"enabled\": false,\n  \"id\": \"media\",\n  \"aliases\": [\"a.example\"]\n}\n"},
		{"flow mapping on the --- line",
			"--- {id: media}\n",
			false,
			"--- {\"enabled\": false, id: media}\n"},
		{"tagged value: re-encoded",
			"id: media\nenabled: !!bool true\n",
			false,
			""},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := withEnabled([]byte(c.doc), c.enabled)
			if err != nil {
				t.Fatal(err)
			}
			if c.want != "" && string(out) != c.want {
				t.Errorf("got\n%s\nwant\n%s", out, c.want)
			}
			d, err := config.ParseDistribution(out, "out")
			if err != nil {
				t.Fatalf("result does not decode: %v\n%s", err, out)
			}
			if d.IsEnabled() != c.enabled {
				t.Errorf("enabled = %v in\n%s", d.IsEnabled(), out)
			}
		})
	}
}

func TestWithEnabledRefuses(t *testing.T) {
	for _, doc := range []string{"- a\n- b\n", "just text\n", "id: [\n"} {
		if out, err := withEnabled([]byte(doc), false); err == nil {
			t.Errorf("%q: accepted, gave %q", doc, out)
		}
	}
}

// FuzzWithEnabled checks that any document the configuration decodes comes
// out of withEnabled decoding to the same distribution, enabled as asked.
func FuzzWithEnabled(f *testing.F) {
	for _, s := range []string{
		"id: media\nenabled: true\n",
		"# c\nid: media\n",
		`{"id": "x", "aliases": ["a.example"]}`,
		"{\n \"enabled\": false\n}",
		"---\nid: x\n...\n",
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, doc []byte, enabled bool) {
		if _, err := config.ParseDistribution(doc, "in"); err != nil {
			return
		}
		out, err := withEnabled(doc, enabled)
		if err != nil {
			return // refusing is allowed; changing anything else is not
		}
		if !sameButEnabled(doc, out, enabled) {
			t.Fatalf("withEnabled(%q, %v) = %q", doc, enabled, out)
		}
	})
}
