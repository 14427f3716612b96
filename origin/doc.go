// Package origin fetches a response head from an origin or origin group,
// forwarding only what the behavior's policies select and failing over from
// primary to secondary by CloudFront's rules.
//
// It sits between the edge's decision to fetch and the origin's answer:
// keep-alive pools per origin (one net/http Transport each, HTTP/1.1, and
// HTTP/2 to HTTPS origins that accept it when Origin.HTTP2 is set),
// certificate verification (system roots and/or a CA bundle, checked for
// the server name CloudFront would send), connection attempts and
// timeouts, origin-group failover, the CloudFront forwarding model
// (Forwarding.Apply), hop-by-hop stripping in both directions (RFC 9110
// §7.6.1), X-Forwarded-For and Via, 103 Early Hints, streamed request
// bodies and WebSocket tunnels (Client.Tunnel).
//
// Every failure is an *Error whose Kind names what went wrong; StatusFor maps
// it to the 502 or 504 a viewer sees.
package origin
