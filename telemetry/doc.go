// Package telemetry accounts for every request an edge serves: it writes
// access logs in CloudFront's standard log format without ever making a
// viewer wait on disk I/O, and keeps Prometheus metrics whose per-request
// updates do not allocate.
package telemetry
