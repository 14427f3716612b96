// Package cache holds what makes Tern a correct shared HTTP cache: the
// RFC 9111 rules (storability, freshness, age, validation, Vary), RFC 5861
// stale serving, CloudFront's TTL clamps and cache keys, and the storage
// interface the memory and disk tiers implement.
//
// Nothing here depends on net/http's types: headers are textproto.MIMEHeader
// (http.Header converts to it for free), so a dedicated HTTP/1.1 hit path can
// use the same lookup, freshness and response assembly.
package cache
