package certs

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Session ticket keys (edge.tls.session_ticket_key_file): the newest key
// encrypts new tickets, every key decrypts. Kept in a file they survive
// restarts; without one they live in memory. Either way a new key is
// added each TicketKeyRotation and the oldest dropped past
// TicketKeysKept, so that a stolen key opens at most a few days of
// sessions.
const (
	TicketKeyRotation = 24 * time.Hour
	TicketKeysKept    = 3
)

// tickets is the key ring and where it is kept.
type tickets struct {
	file  string
	keys  [][32]byte // newest first
	added time.Time  // when keys[0] was made (the file's mtime)
	stamp stamp      // of the file as last read or written
}

// parseTicketKeys reads a key file: one key per line, 64 hex digits; blank
// lines and lines starting with "#" are skipped.
func parseTicketKeys(data []byte) ([][32]byte, error) {
	var keys [][32]byte
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("line %d: not a key (64 hex digits)", i+1)
		}
		keys = append(keys, [32]byte(b))
	}
	if len(keys) == 0 {
		return nil, errors.New("no keys in it")
	}
	return keys, nil
}

func formatTicketKeys(keys [][32]byte) []byte {
	var b bytes.Buffer
	b.WriteString("# TLS session ticket keys (Tern), newest first: the first encrypts, all decrypt.\n")
	for _, k := range keys {
		b.WriteString(hex.EncodeToString(k[:]))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func newTicketKey() [32]byte {
	var k [32]byte
	rand.Read(k[:]) // never fails (crypto/rand)
	return k
}

// loadTickets reads the key file, creating it with one new key when it
// does not exist; file "" keeps the keys in memory.
func loadTickets(file string, now time.Time) (*tickets, error) {
	t := &tickets{file: file}
	if file == "" {
		t.keys, t.added = [][32]byte{newTicketKey()}, now
		return t, nil
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		t.keys = [][32]byte{newTicketKey()}
		if err := t.write(now); err != nil {
			return nil, fmt.Errorf("edge.tls.session_ticket_key_file: %w", err)
		}
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("edge.tls.session_ticket_key_file: %w", err)
	}
	if t.keys, err = parseTicketKeys(data); err != nil {
		return nil, fmt.Errorf("edge.tls.session_ticket_key_file %s: %w", file, err)
	}
	t.stamp, _ = stampOf(file)
	t.added = t.stamp.mod
	if fi, err := os.Stat(file); err == nil && fi.Mode().Perm()&0o077 != 0 {
		// Tern writes it 0600; one someone else made may be open.
		slog.Warn("the session ticket key file can be read by others than its owner: whoever reads it can decrypt recorded TLS sessions; make it mode 0600",
			"file", file, "mode", fi.Mode().Perm().String())
	}
	return t, nil
}

// write saves the keys, atomically, readable by the owner only.
func (t *tickets) write(now time.Time) error {
	tmp, err := os.CreateTemp(filepath.Dir(t.file), ".tern-tickets-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(formatTicketKeys(t.keys)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chtimes(tmp.Name(), now, now); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), t.file); err != nil {
		return err
	}
	t.added = now
	t.stamp, _ = stampOf(t.file)
	return nil
}

// update rotates the keys when the newest is older than
// TicketKeyRotation and reads the file again when someone else changed
// it. It reports whether the keys changed.
func (t *tickets) update(now time.Time) (bool, error) {
	if t.file != "" {
		if st, err := stampOf(t.file); err == nil && st != t.stamp {
			data, err := os.ReadFile(t.file)
			if err == nil {
				var keys [][32]byte
				if keys, err = parseTicketKeys(data); err == nil {
					t.stamp, t.added = st, st.mod
					changed := !slices.Equal(keys, t.keys)
					t.keys = keys
					return changed, nil
				}
			}
			t.stamp = st // a bad version is reported once
			return false, fmt.Errorf("session ticket key file %s not read again, keeping the keys in service: %w", t.file, err)
		}
	}
	if now.Sub(t.added) < TicketKeyRotation {
		return false, nil
	}
	keys := append([][32]byte{newTicketKey()}, t.keys...)
	t.keys = keys[:min(len(keys), TicketKeysKept)]
	if t.file == "" {
		t.added = now
		return true, nil
	}
	if err := t.write(now); err != nil {
		// Serve with the new key anyway; the file is tried again later.
		t.added = now
		return true, fmt.Errorf("session ticket key file %s not written: %w", t.file, err)
	}
	slog.Info("session ticket keys rotated", "file", t.file, "keys", len(t.keys))
	return true, nil
}
