package edge

import (
	"net"
	"net/http"
	"strconv"
)

// httpsInfo is what the edge knows of its own HTTPS listener (SetHTTPS).
type httpsInfo struct {
	port   string   // "" when it is 443 (URLs leave it out)
	altSvc []string // the Alt-Svc value of TLS responses; nil: none
}

// SetHTTPS tells the edge the port of its HTTPS listener, so that
// redirect-to-https sends viewers there, and whether HTTP/3 is served on
// it, so that HTTPS responses advertise it (Alt-Svc: h3=":PORT";
// ma=86400, RFC 7838 and RFC 9114 §3.1.1). Port 0 means the edge has no
// HTTPS listener of its own (TLS ends in front of it): redirects keep the
// Host the viewer sent.
func (s *Server) SetHTTPS(port int, http3 bool) {
	info := &httpsInfo{}
	if port != 0 && port != 443 {
		info.port = strconv.Itoa(port)
	}
	if port != 0 && http3 {
		info.altSvc = []string{`h3=":` + strconv.Itoa(port) + `"; ma=86400`}
	}
	if port == 0 {
		info = nil
	}
	s.https.Store(info)
}

// httpsURL is where redirect-to-https sends r: the same host and request
// URI over HTTPS, at the edge's HTTPS port (none for 443).
func (s *Server) httpsURL(r *http.Request) string {
	info := s.https.Load()
	if info == nil {
		return "https://" + r.Host + r.URL.RequestURI()
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host != "" && host[0] != '[' && net.ParseIP(host) != nil && net.ParseIP(host).To4() == nil {
		host = "[" + host + "]"
	}
	if info.port != "" {
		host += ":" + info.port
	}
	return "https://" + host + r.URL.RequestURI()
}

// advertiseHTTP3 adds Alt-Svc to the response of a request that came over
// TLS, when HTTP/3 is served. (An origin's own Alt-Svc, about the
// origin's endpoints, is removed from its responses by the origin client.)
func (s *Server) advertiseHTTP3(r *http.Request, h http.Header) {
	if r.TLS == nil {
		return
	}
	if info := s.https.Load(); info != nil && info.altSvc != nil {
		h["Alt-Svc"] = info.altSvc
	}
}
