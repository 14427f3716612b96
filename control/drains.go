package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/terncdn/tern/bus"
	"github.com/terncdn/tern/config"
)

// DrainPrefix is the config bucket key prefix of operator drains: while
// an operator has POP drained, "drain.<pop>" holds its Drain (JSON).
// Nodes following distributions watch "distribution.>" only, so these
// keys never reach an edge's configuration.
const DrainPrefix = "drain."

// MaxDrainReason is the longest reason a drain keeps, in bytes.
const MaxDrainReason = 256

// Drain is an operator's drain of a POP: routers take the POP out of
// their answers while it lasts, whatever its edges' health.
type Drain struct {
	POP string `json:"pop"`
	// Reason is the operator's note, shown by `tern pops` and `tern
	// route`.
	Reason string `json:"reason,omitempty"`
	// Since is when the POP was drained.
	Since time.Time `json:"since"`
}

// FieldError is a request refused because of one of its fields; the API
// answers 400 with the field named.
type FieldError struct {
	Field, Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// DrainKey returns pop's key in the config bucket, or a *FieldError
// naming field "pop" when pop cannot be the name of one of router.pops
// (config.CheckPOPName: a DNS label, which is a valid key token too).
func DrainKey(pop string) (string, error) {
	if problem := config.CheckPOPName(pop); problem != "" {
		return "", &FieldError{"pop", problem}
	}
	return DrainPrefix + pop, nil
}

// Drains keeps the operator drains in the config bucket.
type Drains struct {
	kv *bus.KV
}

// NewDrains returns the drains kept in kv, the config bucket.
func NewDrains(kv *bus.KV) *Drains { return &Drains{kv: kv} }

// Set drains pop with reason. Draining a drained POP replaces the reason
// and keeps when it was drained.
func (d *Drains) Set(ctx context.Context, pop, reason string) (Drain, error) {
	key, err := DrainKey(pop)
	if err != nil {
		return Drain{}, err
	}
	reason = strings.TrimSpace(reason)
	if len(reason) > MaxDrainReason {
		return Drain{}, &FieldError{"reason", fmt.Sprintf("%d bytes: at most %d", len(reason), MaxDrainReason)}
	}
	dr := Drain{POP: pop, Reason: reason, Since: time.Now().UTC().Truncate(time.Millisecond)}
	if e, err := d.kv.Get(ctx, key); err == nil {
		var old Drain
		if json.Unmarshal(e.Value, &old) == nil && !old.Since.IsZero() {
			dr.Since = old.Since
		}
	} else if !errors.Is(err, bus.ErrNotFound) {
		return Drain{}, fmt.Errorf("drain %s: %w", pop, err)
	}
	b, err := json.Marshal(dr)
	if err != nil {
		return Drain{}, err
	}
	if _, err := d.kv.Put(ctx, key, b); err != nil {
		return Drain{}, fmt.Errorf("drain %s: %w", pop, err)
	}
	return dr, nil
}

// Clear undrains pop; the error wraps ErrNotFound if it was not drained.
func (d *Drains) Clear(ctx context.Context, pop string) error {
	key, err := DrainKey(pop)
	if err != nil {
		return err
	}
	if _, err := d.kv.Get(ctx, key); err != nil {
		if errors.Is(err, bus.ErrNotFound) {
			return fmt.Errorf("POP %q is not drained: %w", pop, ErrNotFound)
		}
		return fmt.Errorf("undrain %s: %w", pop, err)
	}
	if err := d.kv.Delete(ctx, key, 0); err != nil {
		return fmt.Errorf("undrain %s: %w", pop, err)
	}
	return nil
}

// List returns every drained POP's Drain, by POP.
func (d *Drains) List(ctx context.Context) ([]Drain, error) {
	es, err := d.kv.List(ctx, DrainPrefix+">")
	if err != nil {
		return nil, fmt.Errorf("list drains: %w", err)
	}
	out := make([]Drain, 0, len(es))
	for _, e := range es {
		out = append(out, drainOf(e))
	}
	return out, nil
}

// drainOf reads a drain key's entry. The key alone says the POP is
// drained: a value that does not decode still drains it.
func drainOf(e bus.Entry) Drain {
	var dr Drain
	json.Unmarshal(e.Value, &dr)
	dr.POP = strings.TrimPrefix(e.Key, DrainPrefix)
	if dr.Since.IsZero() {
		dr.Since = e.Created
	}
	return dr
}
