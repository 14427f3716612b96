// Package control keeps a Tern network's distributions in the config KV and
// serves them over an authenticated HTTP API, refusing every change that
// would make the whole configuration invalid, so a bad document never
// reaches the KV nor, through it, an edge.
package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/config"
)

// keyPrefix starts the config KV key of every distribution; keyPattern
// selects them all.
const (
	keyPrefix  = "distribution."
	keyPattern = "distribution.>"
)

// DistributionKey returns the config KV key (in bus.ConfigBucket) that holds
// distribution id: "distribution.<id>".
func DistributionKey(id string) string { return keyPrefix + id }

// MaxIDLength is the longest distribution id the store accepts.
const MaxIDLength = 128

// ValidID reports whether id can name a distribution in the store: 1 to
// MaxIDLength letters, digits, "-", "_" and ".", as the configuration
// allows: starting with a letter or digit, not ending with "." nor holding
// "..", since the id ends
// the NATS subject of its key ("distribution.www.example"), whose tokens
// may not be empty.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDLength || id[0] == '.' || id[0] == '-' || id[0] == '_' || id[len(id)-1] == '.' || strings.Contains(id, "..") {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

const idRule = `is not a distribution id (1 to 128 letters, digits, "-", "_" and ".", starting with a letter or digit, not ending with "." nor holding "..")`

var (
	// ErrNotFound: no distribution has that id. The API answers 404.
	ErrNotFound = bus.ErrNotFound
	// ErrExists: Create found a distribution with the document's id. The
	// API answers 409 Conflict.
	ErrExists = bus.ErrExists
	// ErrRevisionMismatch: the distribution is not at the revision the
	// caller expected (someone changed it first). The API answers 412
	// Precondition Failed, as CloudFront does for a stale If-Match.
	ErrRevisionMismatch = bus.ErrRevisionMismatch
	// ErrInvalid: the document, or the configuration it would be part of,
	// is not valid; the error is an *InvalidError. The API answers 400.
	ErrInvalid = errors.New("invalid distribution")
)

// Problem is one reason a document was refused.
type Problem struct {
	// Field is the path of the field in the document, as written in YAML
	// with list indices ("origins[0].http_port"), or "line N" for a value
	// that could not be decoded. A problem found in another distribution
	// the document conflicts with names it first: "distribution media:
	// aliases[0]".
	Field string `json:"field"`
	// Problem says what is wrong.
	Problem string `json:"problem"`
}

// InvalidError is a document the store refused. errors.Is(err, ErrInvalid)
// holds for it.
type InvalidError struct {
	// ID is the document's id, "" if it could not be read.
	ID string
	// Problems lists every problem found, each naming its field. It is
	// empty when the document could not be decoded at all; Err says why.
	Problems []Problem
	// Err is the error from decoding or assembling the configuration.
	Err error
}

func (e *InvalidError) Error() string {
	if len(e.Problems) == 0 {
		return e.Err.Error()
	}
	var b strings.Builder
	b.WriteString("distribution ")
	if e.ID != "" {
		b.WriteString(strconv.Quote(e.ID) + " ")
	}
	b.WriteString("is not valid: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Field + ": " + p.Problem)
	}
	return b.String()
}

func (e *InvalidError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Distribution is one stored distribution at one revision.
type Distribution struct {
	ID string
	// Revision is the config KV revision that wrote this version: the
	// value of the API's ETag and If-Match.
	Revision uint64
	// Document is the distribution's YAML or JSON text exactly as it was
	// accepted (or as SetEnabled edited it).
	Document []byte
	// Enabled reports whether the distribution serves (its document's
	// enabled field, default true).
	Enabled bool
	// Aliases are the host names the document claims, as written.
	Aliases []string
	// Modified is when this revision was written.
	Modified time.Time
}

// Store keeps distributions in the config KV, one key each (see
// DistributionKey), and lets no change through that would make the
// configuration made of the base file and every distribution invalid.
//
// Changes through one Store are serialized, so two of them cannot each
// pass validation alone and together break it (two new distributions
// claiming one alias). Two Stores writing the same bucket, in two control
// plane processes, do not coordinate that check; run one writer.
type Store struct {
	kv         *bus.KV
	base       []byte
	baseSource string

	mu sync.Mutex // serializes check-then-write
}

// NewStore returns a Store over kv (the bus.ConfigBucket) that validates
// every change in the context of base, the configuration file (its policies
// are the ones distributions may name), called baseSource in errors. It
// fails if base alone is not a valid configuration.
func NewStore(kv *bus.KV, base []byte, baseSource string) (*Store, error) {
	if kv == nil {
		return nil, errors.New("new distribution store: no KV bucket")
	}
	if _, err := config.Assemble(base, baseSource, nil); err != nil {
		return nil, fmt.Errorf("new distribution store: %w", err)
	}
	return &Store{kv: kv, base: bytes.Clone(base), baseSource: baseSource}, nil
}

// SetBase replaces the configuration file changes are validated with (a
// reload). A base that is not valid alone is refused and the old one kept.
func (s *Store) SetBase(base []byte, baseSource string) error {
	if _, err := config.Assemble(base, baseSource, nil); err != nil {
		return fmt.Errorf("distribution store: new base refused: %w", err)
	}
	s.mu.Lock()
	s.base, s.baseSource = bytes.Clone(base), baseSource
	s.mu.Unlock()
	return nil
}

// Get returns distribution id, or an error wrapping ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Distribution, error) {
	if !ValidID(id) {
		return Distribution{}, fmt.Errorf("get distribution %q: %w", id, ErrNotFound)
	}
	e, err := s.kv.Get(ctx, DistributionKey(id))
	if err != nil {
		return Distribution{}, fmt.Errorf("get distribution %q: %w", id, err)
	}
	return describe(e)
}

// List returns every distribution, sorted by id.
func (s *Store) List(ctx context.Context) ([]Distribution, error) {
	es, err := s.kv.List(ctx, keyPattern)
	if err != nil {
		return nil, fmt.Errorf("list distributions: %w", err)
	}
	out := make([]Distribution, 0, len(es))
	for _, e := range es {
		d, err := describe(e)
		if err != nil {
			return nil, fmt.Errorf("list distributions: %w", err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Create stores doc, a distribution document in YAML or JSON, as a new
// distribution. It fails with an error wrapping ErrExists if its id is
// taken, or an *InvalidError if the document, together with the base
// configuration and every other distribution, is not a valid configuration.
func (s *Store) Create(ctx context.Context, doc []byte) (Distribution, error) {
	doc = bytes.Clone(doc)
	d, err := parse(doc)
	if err != nil {
		return Distribution{}, fmt.Errorf("create distribution: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.kv.List(ctx, keyPattern)
	if err != nil {
		return Distribution{}, fmt.Errorf("create distribution %q: %w", d.ID, err)
	}
	if _, ok := find(all, d.ID); ok {
		return Distribution{}, fmt.Errorf("create distribution %q: %w", d.ID, ErrExists)
	}
	if err := s.check(d.ID, doc, all); err != nil {
		return Distribution{}, fmt.Errorf("create distribution %q: %w", d.ID, err)
	}
	rev, err := s.kv.Create(ctx, DistributionKey(d.ID), doc)
	if err != nil {
		return Distribution{}, fmt.Errorf("create distribution %q: %w", d.ID, err)
	}
	return written(d, doc, rev), nil
}

// Update replaces distribution id's document with doc if the distribution
// is at revision ifMatch, else fails with an error wrapping
// ErrRevisionMismatch (RFC 9110 section 13.1.1). The document's id must be
// id. Errors are as for Create, and ErrNotFound if id does not exist.
func (s *Store) Update(ctx context.Context, id string, doc []byte, ifMatch uint64) (Distribution, error) {
	doc = bytes.Clone(doc)
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.current(ctx, "update", id, ifMatch)
	if err != nil {
		return Distribution{}, err
	}
	// The precondition is evaluated before the content is processed, so a
	// stale writer learns that first (RFC 9110 section 13.2.2).
	d, err := parse(doc)
	if err != nil {
		return Distribution{}, fmt.Errorf("update distribution %q: %w", id, err)
	}
	if d.ID != id {
		return Distribution{}, fmt.Errorf("update distribution %q: %w", id, &InvalidError{
			ID:       d.ID,
			Problems: []Problem{{Field: "id", Problem: fmt.Sprintf("%q is not the id of the distribution being updated, %q (an id cannot change)", d.ID, id)}},
			Err:      fmt.Errorf("document id %q is not %q", d.ID, id),
		})
	}
	return s.write(ctx, "update", d, doc, ifMatch, all)
}

// SetEnabled sets distribution id's enabled field, as CloudFront's enable
// and disable do, if the distribution is at revision ifMatch (else an error
// wrapping ErrRevisionMismatch). It changes only that field's text in the
// document when it can, and re-encodes the document otherwise (comments
// kept, layout not). If the distribution is already so, nothing is written
// and the current revision is returned.
func (s *Store) SetEnabled(ctx context.Context, id string, enabled bool, ifMatch uint64) (Distribution, error) {
	what := "disable"
	if enabled {
		what = "enable"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.current(ctx, what, id, ifMatch)
	if err != nil {
		return Distribution{}, err
	}
	cur, _ := find(all, id)
	d, err := describe(cur)
	if err != nil {
		return Distribution{}, fmt.Errorf("%s distribution %q: %w", what, id, err)
	}
	if d.Enabled == enabled {
		return d, nil
	}
	doc, err := withEnabled(cur.Value, enabled)
	if err != nil {
		return Distribution{}, fmt.Errorf("%s distribution %q: %w", what, id, err)
	}
	pd, err := parse(doc)
	if err != nil {
		return Distribution{}, fmt.Errorf("%s distribution %q: %w", what, id, err)
	}
	return s.write(ctx, what, pd, doc, ifMatch, all)
}

// Delete deletes distribution id if it is at revision ifMatch, else fails
// with an error wrapping ErrRevisionMismatch, or ErrNotFound.
func (s *Store) Delete(ctx context.Context, id string, ifMatch uint64) error {
	// Removing a distribution cannot make the others invalid (nothing in a
	// configuration requires a distribution to exist), so there is nothing
	// to check but the precondition.
	if !ValidID(id) {
		return fmt.Errorf("delete distribution %q: %w", id, ErrNotFound)
	}
	e, err := s.kv.Get(ctx, DistributionKey(id))
	if err != nil {
		return fmt.Errorf("delete distribution %q: %w", id, err)
	}
	if e.Revision != ifMatch {
		return fmt.Errorf("delete distribution %q: at revision %d, not %d: %w", id, e.Revision, ifMatch, ErrRevisionMismatch)
	}
	// The KV checks the revision again, atomically.
	if err := s.kv.Delete(ctx, DistributionKey(id), ifMatch); err != nil {
		return fmt.Errorf("delete distribution %q: %w", id, err)
	}
	return nil
}

// current lists every distribution and checks that id exists at revision
// ifMatch. The caller holds s.mu.
func (s *Store) current(ctx context.Context, what, id string, ifMatch uint64) ([]bus.Entry, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("%s distribution %q: %w", what, id, ErrNotFound)
	}
	all, err := s.kv.List(ctx, keyPattern)
	if err != nil {
		return nil, fmt.Errorf("%s distribution %q: %w", what, id, err)
	}
	cur, ok := find(all, id)
	if !ok {
		return nil, fmt.Errorf("%s distribution %q: %w", what, id, ErrNotFound)
	}
	if cur.Revision != ifMatch {
		return nil, fmt.Errorf("%s distribution %q: at revision %d, not %d: %w", what, id, cur.Revision, ifMatch, ErrRevisionMismatch)
	}
	return all, nil
}

// write checks doc against all and writes it over revision ifMatch. The
// KV checks the revision again, atomically, against writers elsewhere.
func (s *Store) write(ctx context.Context, what string, d *config.Distribution, doc []byte, ifMatch uint64, all []bus.Entry) (Distribution, error) {
	if err := s.check(d.ID, doc, all); err != nil {
		return Distribution{}, fmt.Errorf("%s distribution %q: %w", what, d.ID, err)
	}
	rev, err := s.kv.Update(ctx, DistributionKey(d.ID), doc, ifMatch)
	if err != nil {
		return Distribution{}, fmt.Errorf("%s distribution %q: %w", what, d.ID, err)
	}
	return written(d, doc, rev), nil
}

// check assembles the configuration that storing doc as distribution id
// would make, the base file with every stored distribution and doc in place
// of id's, and returns an *InvalidError if it is not valid. doc goes last,
// so a conflict (the same alias twice) is reported against it, the newcomer.
func (s *Store) check(id string, doc []byte, all []bus.Entry) error {
	docs := make([]config.Document, 0, len(all)+1)
	for _, e := range all {
		if other := strings.TrimPrefix(e.Key, keyPrefix); other != id {
			docs = append(docs, config.Document{Source: "distribution " + other, Data: e.Value})
		}
	}
	docs = append(docs, config.Document{Source: "distribution " + id, Data: doc})
	_, err := config.Assemble(s.base, s.baseSource, docs)
	if err == nil {
		return nil
	}
	return &InvalidError{ID: id, Problems: problems(err, docs), Err: err}
}

// problems lists the field errors in err, an error from config.Assemble
// over docs. Those about the last document (the one being written) name
// its field alone; those about another one name it first.
func problems(err error, docs []config.Document) []Problem {
	own := docs[len(docs)-1].Source + ": "
	var out []Problem
	add := func(prefix string, fe *config.FieldError) {
		field := fe.Field
		if prefix != own {
			field = prefix + field
		}
		out = append(out, Problem{Field: field, Problem: renameIndices(fe.Problem, docs)})
	}
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *config.FieldError:
			add("", e)
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			// Assemble wraps each distribution's FieldError as
			// "<source>: <field>: <problem>".
			if fe, ok := e.Unwrap().(*config.FieldError); ok {
				add(strings.TrimSuffix(err.Error(), fe.Error()), fe)
				return
			}
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

var distributionIndex = regexp.MustCompile(`distributions\[(\d+)\]`)

// renameIndices replaces "distributions[i]" in a problem's text, which means
// nothing to an API user, with the name of docs[i].
func renameIndices(problem string, docs []config.Document) string {
	if !strings.Contains(problem, "distributions[") {
		return problem
	}
	return distributionIndex.ReplaceAllStringFunc(problem, func(m string) string {
		i, err := strconv.Atoi(m[len("distributions[") : len(m)-1])
		if err != nil || i >= len(docs) {
			return m
		}
		return docs[i].Source
	})
}

// parse decodes a document submitted for writing and checks its id, or
// returns an *InvalidError.
func parse(doc []byte) (*config.Distribution, error) {
	d, err := config.ParseDistribution(doc, "document")
	if err != nil {
		ie := &InvalidError{Err: err}
		// Unknown fields and values of the wrong type: one problem each.
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, msg := range te.Errors {
				field, problem, ok := strings.Cut(msg, ": ")
				if !ok {
					field, problem = "", msg
				}
				ie.Problems = append(ie.Problems, Problem{Field: field, Problem: problem})
			}
		}
		return nil, ie
	}
	switch {
	case d.ID == "":
		return nil, &InvalidError{Problems: []Problem{{Field: "id", Problem: "is required"}}, Err: errors.New("document has no id")}
	case !ValidID(d.ID):
		return nil, &InvalidError{Problems: []Problem{{Field: "id", Problem: strconv.Quote(d.ID) + " " + idRule}}, Err: fmt.Errorf("document id %q %s", d.ID, idRule)}
	}
	return d, nil
}

// find returns the entry of distribution id in all.
func find(all []bus.Entry, id string) (bus.Entry, bool) {
	key := DistributionKey(id)
	for _, e := range all {
		if e.Key == key {
			return e, true
		}
	}
	return bus.Entry{}, false
}

// describe decodes a stored entry.
func describe(e bus.Entry) (Distribution, error) {
	id := strings.TrimPrefix(e.Key, keyPrefix)
	d, err := config.ParseDistribution(e.Value, "stored distribution "+id)
	if err != nil {
		return Distribution{}, err
	}
	return Distribution{
		ID:       id,
		Revision: e.Revision,
		Document: e.Value,
		Enabled:  d.IsEnabled(),
		Aliases:  d.Aliases,
		Modified: e.Created,
	}, nil
}

// written describes a document just written at revision rev.
func written(d *config.Distribution, doc []byte, rev uint64) Distribution {
	return Distribution{
		ID:       d.ID,
		Revision: rev,
		Document: doc,
		Enabled:  d.IsEnabled(),
		Aliases:  d.Aliases,
		Modified: time.Now(),
	}
}
