// Package config is Tern's distribution model and its YAML file format: Parse
// accepts a file only when every distribution, origin, behavior and policy in
// it is complete and consistent, and then hands back a Config whose defaults
// are filled in and whose references (target origins, policy names) are
// resolved.
//
// The model follows Amazon CloudFront's, with CloudFront's names in
// snake_case (default_cache_behavior, target_origin_id, min_ttl, ...), so
// what a CloudFront user knows carries over. The doc comment of every field
// is its user documentation: what it does, its default and the values it
// allows.
package config
