package control

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sort"
	"strings"
	"time"
)

// POP is a point of presence as the control plane knows it: from its
// edges' heartbeats and the operator's drain.
type POP struct {
	Name string `json:"name"`
	// LiveEdges is how many of its edges heartbeat (within GoneAfter),
	// and Edges how many were heard from since the control plane started.
	LiveEdges int `json:"live_edges"`
	Edges     int `json:"edges"`
	// LastSeen is the latest heartbeat of any of its edges.
	LastSeen time.Time `json:"last_seen,omitzero"`
	// Drained, Reason and Since are the operator's drain, if there is
	// one.
	Drained bool      `json:"drained"`
	Reason  string    `json:"reason,omitempty"`
	Since   time.Time `json:"since,omitzero"`
}

// count adds one of p's edges.
func (p *POP) count(ed Edge) {
	p.Edges++
	if ed.Alive {
		p.LiveEdges++
	}
	if ed.LastSeen.After(p.LastSeen) {
		p.LastSeen = ed.LastSeen
	}
}

// WithPOPs serves the POPs and their operator drains:
//
//	GET    /api/v1/pops             200 {"pops": [POP...]}: each POP heard from or drained
//	PUT    /api/v1/pops/{pop}/drain 200 the POP; body optional: {"reason": "..."}
//	DELETE /api/v1/pops/{pop}/drain 204; 404 if it is not drained
//
// A drain is kept in the config bucket (DrainPrefix) until undrained;
// every router following the control plane takes the POP out of its
// answers.
func WithPOPs(e *Edges, d *Drains) APIOption {
	p := &popsAPI{edges: e, drains: d}
	return func(mux *http.ServeMux) {
		mux.HandleFunc("/api/v1/pops", p.list)
		mux.HandleFunc("/api/v1/pops/{pop}/drain", p.drain)
	}
}

type popsAPI struct {
	edges  *Edges
	drains *Drains
}

func (p *popsAPI) list(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		popsFail(w, r, &statusError{http.StatusMethodNotAllowed, r.Method + " is not allowed here; allowed: GET, HEAD"}, "GET, HEAD")
		return
	}
	drains, err := p.drains.List(r.Context())
	if err != nil {
		popsFail(w, r, err, "")
		return
	}
	byName := map[string]*POP{}
	get := func(name string) *POP {
		if byName[name] == nil {
			byName[name] = &POP{Name: name}
		}
		return byName[name]
	}
	if p.edges != nil {
		for _, ed := range p.edges.List() {
			get(ed.POP).count(ed)
		}
	}
	for _, d := range drains {
		pop := get(d.POP)
		pop.Drained, pop.Reason, pop.Since = true, d.Reason, d.Since
	}
	out := make([]POP, 0, len(byName))
	for _, pop := range byName {
		out = append(out, *pop)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, map[string]any{"pops": out})
}

func (p *popsAPI) drain(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("pop")
	switch r.Method {
	case http.MethodPut:
		var req struct {
			Reason string `json:"reason"`
		}
		if ct := r.Header.Get("Content-Type"); ct != "" {
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
				popsFail(w, r, &statusError{http.StatusUnsupportedMediaType, "content type " + ct + `: send {"reason": "..."} as application/json, or no body`}, "")
				return
			}
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<10))
		if err != nil {
			popsFail(w, r, &statusError{http.StatusBadRequest, "read body: " + err.Error()}, "")
			return
		}
		if len(strings.TrimSpace(string(body))) > 0 {
			dec := json.NewDecoder(strings.NewReader(string(body)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				popsFail(w, r, &statusError{http.StatusBadRequest, `drain request: ` + err.Error() + `; send {"reason": "..."} or no body`}, "")
				return
			}
		}
		d, err := p.drains.Set(r.Context(), name, req.Reason)
		if err != nil {
			popsFail(w, r, err, "")
			return
		}
		pop := POP{Name: d.POP, Drained: true, Reason: d.Reason, Since: d.Since}
		if p.edges != nil {
			for _, ed := range p.edges.List() {
				if ed.POP == name {
					pop.count(ed)
				}
			}
		}
		writeJSON(w, http.StatusOK, pop)
	case http.MethodDelete:
		if err := p.drains.Clear(r.Context(), name); err != nil {
			popsFail(w, r, err, "")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		popsFail(w, r, &statusError{http.StatusMethodNotAllowed, r.Method + " is not allowed here; allowed: PUT, DELETE"}, "PUT, DELETE")
	}
}

// popsFail answers err as the rest of the API does.
func popsFail(w http.ResponseWriter, r *http.Request, err error, allow string) {
	body := errorBody{Error: err.Error()}
	status := http.StatusInternalServerError
	if se, ok := errors.AsType[*statusError](err); ok {
		status = se.status
	} else if fe, ok := errors.AsType[*FieldError](err); ok {
		status = http.StatusBadRequest
		body.Fields = []Problem{{Field: fe.Field, Problem: fe.Problem}}
	} else if errors.Is(err, ErrNotFound) {
		status = http.StatusNotFound
	} else if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusServiceUnavailable
	}
	if allow != "" {
		w.Header().Set("Allow", allow)
	}
	if status >= 500 {
		slog.Error("control API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, body)
}
