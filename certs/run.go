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
// The OCSP fetches run on their own: a responder that does not answer
// holds each for up to its timeout, and must not hold up a renewed
// certificate file.
func (s *Store) Run(ctx context.Context, interval time.Duration) {
	go every(ctx, interval, func() { s.refreshOCSP(ctx) })
	every(ctx, interval, func() {
		s.reload()
		s.updateTickets()
	})
}

// every runs f now and then each interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		f()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
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
