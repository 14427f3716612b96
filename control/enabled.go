package control

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/terncdn/tern/config"
)

// withEnabled returns doc, a distribution document, with its top-level
// enabled field set. It edits only the text of that value, or inserts the
// field before the first one, so the operator's layout and comments stay as
// written; when that is not possible (or the edit would decode to anything
// but the same distribution with enabled changed) it re-encodes the
// document as YAML.
func withEnabled(doc []byte, enabled bool) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("set enabled: decode document: %w", err)
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("set enabled: the document is not a mapping")
	}
	m := root.Content[0]
	want := strconv.FormatBool(enabled)
	if out, ok := editEnabled(doc, m, want); ok && sameButEnabled(doc, out, enabled) {
		return out, nil
	}

	if v := mappingValue(m, "enabled"); v != nil {
		*v = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: want}
	} else {
		m.Content = append([]*yaml.Node{
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: "enabled"},
			{Kind: yaml.ScalarNode, Tag: "!!bool", Value: want},
		}, m.Content...)
	}
	out, err := yaml.Marshal(&root)
	if err != nil {
		return nil, fmt.Errorf("set enabled: encode document: %w", err)
	}
	if !sameButEnabled(doc, out, enabled) {
		return nil, errors.New("set enabled: the re-encoded document decodes to another distribution")
	}
	return out, nil
}

// editEnabled sets the enabled field of m, the document's root mapping, by
// editing doc's text. ok is false when the text is not laid out as expected.
func editEnabled(doc []byte, m *yaml.Node, want string) (out []byte, ok bool) {
	if v := mappingValue(m, "enabled"); v != nil {
		// A valid document's enabled value is a plain scalar (true, false,
		// yes, ...), one line long, whose text is its Value.
		if v.Kind != yaml.ScalarNode || v.Style != 0 {
			return nil, false
		}
		at, ok := offset(doc, v.Line, v.Column)
		if !ok || !bytes.HasPrefix(doc[at:], []byte(v.Value)) {
			return nil, false
		}
		return splice(doc, at, at+len(v.Value), want), true
	}
	if len(m.Content) == 0 {
		return nil, false
	}
	first := m.Content[0]
	at, ok := offset(doc, first.Line, first.Column)
	if !ok {
		return nil, false
	}
	if m.Style&yaml.FlowStyle != 0 {
		// {"id": ...} (JSON) or {id: ...}: insert before the first key,
		// repeating the space between "{" and it.
		open, ok := offset(doc, m.Line, m.Column)
		if !ok || doc[open] != '{' || !blank(doc[open+1:at]) {
			return nil, false
		}
		sep := string(doc[open+1 : at])
		if sep == "" {
			sep = " "
		}
		return splice(doc, at, at, `"enabled": `+want+","+sep), true
	}
	// Block mapping: a line of its own before the first key's, indented
	// alike.
	lineStart := bytes.LastIndexByte(doc[:at], '\n') + 1
	if !blank(doc[lineStart:at]) {
		return nil, false
	}
	return splice(doc, lineStart, lineStart, string(doc[lineStart:at])+"enabled: "+want+"\n"), true
}

// mappingValue returns the value of key in mapping m, or nil.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// offset returns the byte offset in doc of line and column (both from 1,
// columns counted in characters, as yaml.Node reports them).
func offset(doc []byte, line, column int) (int, bool) {
	at := 0
	for l := 1; l < line; l++ {
		nl := bytes.IndexByte(doc[at:], '\n')
		if nl < 0 {
			return 0, false
		}
		at += nl + 1
	}
	for c := 1; c < column; c++ {
		if at >= len(doc) || doc[at] == '\n' {
			return 0, false
		}
		_, size := utf8.DecodeRune(doc[at:])
		at += size
	}
	return at, at < len(doc)
}

func blank(b []byte) bool {
	return len(bytes.Trim(b, " \t\r\n")) == 0
}

func splice(doc []byte, from, to int, s string) []byte {
	out := make([]byte, 0, len(doc)-(to-from)+len(s))
	out = append(out, doc[:from]...)
	out = append(out, s...)
	return append(out, doc[to:]...)
}

// sameButEnabled reports whether after decodes to the distribution before
// decodes to with enabled set, and nothing else changed.
func sameButEnabled(before, after []byte, enabled bool) bool {
	b, err := config.ParseDistribution(before, "before")
	if err != nil {
		return false
	}
	a, err := config.ParseDistribution(after, "after")
	if err != nil || a.Enabled == nil || *a.Enabled != enabled {
		return false
	}
	b.Enabled = a.Enabled
	return reflect.DeepEqual(a, b)
}
