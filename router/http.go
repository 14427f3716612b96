package router

import (
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// HTTPHandler is the router's HTTP mode, for clients that cannot be
// steered by DNS: a request for a distribution's name is redirected (302)
// to the same path and query at "<the distribution's d-label>.<the chosen
// POP's http_host>", so that the edge there knows the distribution from
// the host's first label. The port is the request's unless http_host
// gives one. The client is placed by the connection's address. A name
// that is not a distribution's is 404.
func (r *Router) HTTPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		z := r.zone.Load()
		host, port := strings.ToLower(req.Host), ""
		if h, p, err := net.SplitHostPort(host); err == nil {
			host, port = h, p
		}
		host = strings.TrimSuffix(host, ".")
		n, ok := z.lookup(host)
		if !ok || n.kind != nameDistribution || !inZone(host, z.origin) {
			http.Error(w, "no distribution is named "+host, http.StatusNotFound)
			return
		}
		var client netip.Addr
		if ap, err := netip.ParseAddrPort(req.RemoteAddr); err == nil {
			client = ap.Addr().Unmap()
		}
		p := r.choose(z, client)
		scheme := "http"
		if req.TLS != nil {
			scheme = "https"
		}
		w.Header().Set("Cache-Control", "no-store") // the choice is this client's, now
		http.Redirect(w, req, scheme+"://"+redirectHost(n.label, p.httpHost, port)+req.URL.RequestURI(), http.StatusFound)
	})
}

// redirectHost is where the HTTP mode sends a client of the distribution
// whose generated label is label to the POP whose http_host is popHost:
// label.popHost, with popHost's port, else with port (the request's).
func redirectHost(label, popHost, port string) string {
	if h, p, err := net.SplitHostPort(popHost); err == nil {
		return label + "." + h + ":" + p
	}
	if port != "" {
		return label + "." + popHost + ":" + port
	}
	return label + "." + popHost
}

// ExplainHandler answers GET ?client=IP&name=NAME with the Decision (JSON)
// the router makes for that client and name: for `tern route`, on an
// operator's listener (not viewers': it shows the POPs' health).
func (r *Router) ExplainHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		ip, err := netip.ParseAddr(q.Get("client"))
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "client: " + q.Get("client") + " is not an IP address"})
			return
		}
		json.NewEncoder(w).Encode(r.Explain(ip.Unmap(), q.Get("name")))
	})
}

// Names lists the names the router answers for each distribution (by
// id): its generated name first, then its aliases under the zone.
func (r *Router) Names() map[string][]string {
	z := r.zone.Load()
	r.mu.Lock()
	ds := r.dists
	r.mu.Unlock()
	out := map[string][]string{}
	for _, d := range ds {
		if d == nil {
			continue
		}
		names := []string{GeneratedName(d.ID, z.origin)}
		for _, a := range d.Aliases {
			a = strings.ToLower(a)
			if inZone(strings.TrimPrefix(a, "*."), z.origin) && a != z.origin {
				names = append(names, a)
			}
		}
		out[d.ID] = names
	}
	return out
}
