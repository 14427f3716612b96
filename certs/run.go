package certs

import (
	"context"
	"log/slog"
	"time"
)

// PollInterval is how often Run looks for changed certificate and ticket
// key files.
const PollInterval = 3 * time.Second

// Run keeps the certificates current until ctx ends: every interval it
// reads again the files that changed, rotates the session ticket keys when
// due, and fetches the OCSP staples that are due (the first ones at once).
func (s *Store) Run(ctx context.Context, interval time.Duration) {
	s.refreshOCSP(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.reload()
		s.updateTickets()
		s.refreshOCSP(ctx)
	}
}

// updateTickets rotates or rereads the session ticket keys and gives them
// to every policy's configuration.
func (s *Store) updateTickets() {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed, err := s.tickets.update(s.now())
	if err != nil {
		slog.Error("session ticket keys", "error", err)
	}
	if changed {
		s.setTicketKeys()
	}
}

// setTicketKeys gives the ring's keys to every policy's configuration;
// s.mu held.
func (s *Store) setTicketKeys() {
	for _, c := range s.confs {
		c.SetSessionTicketKeys(s.tickets.keys)
	}
}
