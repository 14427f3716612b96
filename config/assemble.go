package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Document is one configuration item kept apart from the configuration
// file, as the control plane keeps each distribution: Data is its YAML (or
// JSON) text and Source names it in errors, e.g. "distribution media".
type Document struct {
	Source string
	Data   []byte
}

// ParseDistribution decodes one distribution from data (YAML or JSON).
// Unknown fields and values of the wrong type are errors that name their
// line. It does not fill in defaults nor validate: Assemble does both, in
// the context of a whole configuration (the policies a distribution names
// live there).
func ParseDistribution(data []byte, source string) (*Distribution, error) {
	d := new(Distribution)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(d); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("decode %s: empty document", source)
		}
		return nil, fmt.Errorf("decode %s: %w", source, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decode %s: more than one YAML document", source)
	}
	return d, nil
}

// Assemble builds the configuration a node runs from base, a configuration
// file (its edge, admin and policies; its own distributions are replaced),
// and the distributions in docs, in order. It fills in defaults, validates
// and resolves as Parse does. A problem in a distribution is reported
// against its document: "distribution media: origins[0].http_port: ...",
// and FieldErrors finds it.
func Assemble(base []byte, baseSource string, docs []Document) (*Config, error) {
	c := new(Config)
	dec := yaml.NewDecoder(bytes.NewReader(base))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decode config %s: %w", baseSource, err)
	}
	c.Distributions = make([]*Distribution, 0, len(docs))
	for _, doc := range docs {
		d, err := ParseDistribution(doc.Data, doc.Source)
		if err != nil {
			return nil, err
		}
		c.Distributions = append(c.Distributions, d)
	}
	if err := c.Provision(); err != nil {
		return nil, fmt.Errorf("check config %s with %d distribution(s):\n%w", baseSource, len(docs), attribute(err, docs))
	}
	return c, nil
}

// attribute rewrites the field errors of err that are about
// distributions[i] to name docs[i] instead.
func attribute(err error, docs []Document) error {
	var out []error
	for _, fe := range FieldErrors(err) {
		rest, ok := strings.CutPrefix(fe.Field, "distributions[")
		if !ok {
			out = append(out, fe)
			continue
		}
		idx, field, ok := strings.Cut(rest, "]")
		i, convErr := strconv.Atoi(idx)
		if !ok || convErr != nil || i < 0 || i >= len(docs) {
			out = append(out, fe)
			continue
		}
		field = strings.TrimPrefix(field, ".")
		if field == "" {
			field = "(distribution)"
		}
		out = append(out, fmt.Errorf("%s: %w", docs[i].Source, &FieldError{Field: field, Problem: fe.Problem}))
	}
	if len(out) == 0 {
		return err
	}
	return errors.Join(out...)
}
