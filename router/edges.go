package router

import "github.com/terncdn/tern/control"

// EdgesHealth is the Health of the control plane's registry of edges: a
// POP's live edges are those with a heartbeat within control.GoneAfter.
// Only edges that serve viewers count (edge.role "edge", or a shield,
// which serves viewers too).
func EdgesHealth(e *control.Edges) Health { return edgesHealth{e} }

type edgesHealth struct{ e *control.Edges }

func (h edgesHealth) LiveEdges() (map[string]int, bool) {
	live := map[string]int{}
	for _, ed := range h.e.List() {
		if ed.Alive {
			live[ed.POP]++
		} else if _, ok := live[ed.POP]; !ok {
			live[ed.POP] = 0 // heard from, now gone: down
		}
	}
	return live, h.e.HeardAll()
}
