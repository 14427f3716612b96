package config

import (
	"strings"
	"testing"
)

const headersBase = `
response_headers_policies:
  - name: site
    comment: CORS for the app, HSTS, no X-Powered-By
    cors_config:
      access_control_allow_origins: ["https://app.example.com", "https://*.example.org", "localhost:3000"]
      access_control_allow_headers: [Content-Type, Authorization]
      access_control_allow_methods: [GET, POST, OPTIONS]
      access_control_allow_credentials: true
      access_control_expose_headers: [X-Request-Id]
      access_control_max_age_sec: 600
      origin_override: true
    security_headers_config:
      strict_transport_security: {access_control_max_age_sec: 63072000, include_subdomains: true, preload: true, override: true}
      content_type_options: {override: true}
      frame_options: {frame_option: DENY, override: false}
      referrer_policy: {referrer_policy: no-referrer}
      xss_protection: {protection: true, report_uri: "https://r.example.com/xss"}
      content_security_policy: {content_security_policy: "default-src 'self'", override: true}
    custom_headers_config:
      - {header: Cache-Control, value: "public, max-age=60", override: true}
      - {header: X-Team, value: ""}
    remove_headers_config: [X-Powered-By, Server]
    server_timing_headers_config: {enabled: true, sampling_rate: 12.5}
distributions:
  - id: main
    origins: [{id: a, domain_name: a.example.com}]
    default_cache_behavior: {target_origin_id: a, response_headers_policy: site}
    cache_behaviors:
      - {path_pattern: /m/*, target_origin_id: a, response_headers_policy: Managed-SecurityHeadersPolicy}
      - {path_pattern: /s/*, target_origin_id: a, response_headers_policy: SimpleCORS}
      - {path_pattern: /i/*, target_origin_id: a, response_headers_policy: 5cc3b908-e619-4b99-88e5-2cf7f45965bd}
      - path_pattern: /x/*
        target_origin_id: a
        response_headers_policy:
          remove_headers_config: [X-Debug]
      - {path_pattern: /n/*, target_origin_id: a}
`

func TestResponseHeadersPolicyResolves(t *testing.T) {
	c := mustParse(t, headersBase)
	d := c.Distributions[0]
	want := map[*CacheBehavior]string{
		d.DefaultCacheBehavior: "site",
		d.CacheBehaviors[0]:    "Managed-SecurityHeadersPolicy",
		d.CacheBehaviors[1]:    "Managed-SimpleCORS",
		d.CacheBehaviors[2]:    "Managed-CORS-With-Preflight",
		d.CacheBehaviors[3]:    "",
	}
	for b, name := range want {
		r := b.ResponseHeadersPolicy
		if r == nil || r.Policy == nil || r.Policy.Name != name {
			t.Errorf("behavior %q: policy %+v, want %q", b.PathPattern, r, name)
		}
	}
	if got := d.CacheBehaviors[3].ResponseHeadersPolicy.Policy.RemoveHeadersConfig; len(got) != 1 || got[0] != "X-Debug" {
		t.Errorf("inline policy: %v", got)
	}
	if d.CacheBehaviors[4].ResponseHeadersPolicy != nil {
		t.Error("a behavior without response_headers_policy has one")
	}
	if p, ok := c.ResponseHeadersPolicy("e61eb60c-9c35-4d20-a928-2b84e02af89c"); !ok || p.Name != "Managed-CORS-and-SecurityHeadersPolicy" {
		t.Errorf("lookup by managed id: %v %v", p, ok)
	}
}

func TestManagedResponseHeadersPoliciesValid(t *testing.T) {
	ids := map[string]bool{}
	for _, mp := range ManagedResponseHeadersPolicies() {
		var p problems
		mp.validate(&p, mp.Name)
		if len(p) > 0 {
			t.Errorf("%s: %v", mp.Name, p)
		}
		if len(mp.ID) != 36 || ids[mp.ID] {
			t.Errorf("%s: id %q", mp.Name, mp.ID)
		}
		ids[mp.ID] = true
	}
}

func TestResponseHeadersPolicyValidation(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, field, problem string
	}{
		{"unknown policy", "response_headers_policy: site}", "response_headers_policy: nope}",
			"distributions[0].default_cache_behavior.response_headers_policy", `"nope" is not a managed response headers policy`},
		{"reserved name", "  - name: site\n", "  - name: Managed-Site\n",
			"response_headers_policies[0].name", "reserved"},
		{"credentials with any origin", `["https://app.example.com", "https://*.example.org", "localhost:3000"]`, `["*"]`,
			"response_headers_policies[0].cors_config.access_control_allow_origins[0]", "access_control_allow_credentials"},
		{"no origins", `["https://app.example.com", "https://*.example.org", "localhost:3000"]`, `[]`,
			"response_headers_policies[0].cors_config.access_control_allow_origins", "at least one"},
		{"wildcard inside", `"https://*.example.org"`, `"https://a.*.example.org"`,
			"response_headers_policies[0].cors_config.access_control_allow_origins[1]", "leftmost"},
		{"ftp origin", `"localhost:3000"`, `"ftp://files.example.com"`,
			"response_headers_policies[0].cors_config.access_control_allow_origins[2]", "http or https"},
		{"bad method", "[GET, POST, OPTIONS]", "[GET, TRACE]",
			"response_headers_policies[0].cors_config.access_control_allow_methods[1]", `"TRACE" is not one of`},
		{"ALL with others", "[GET, POST, OPTIONS]", "[GET, ALL]",
			"response_headers_policies[0].cors_config.access_control_allow_methods[1]", "only entry"},
		{"bad allow header", "[Content-Type, Authorization]", `["Content Type"]`,
			"response_headers_policies[0].cors_config.access_control_allow_headers[0]", "not a header name"},
		{"negative max age", "access_control_max_age_sec: 600", "access_control_max_age_sec: -1",
			"response_headers_policies[0].cors_config.access_control_max_age_sec", "negative"},
		{"hsts without max-age", "{access_control_max_age_sec: 63072000, include_subdomains: true,", "{include_subdomains: true,",
			"response_headers_policies[0].security_headers_config.strict_transport_security.access_control_max_age_sec", "required"},
		{"frame option", "frame_option: DENY", "frame_option: ALLOW-FROM",
			"response_headers_policies[0].security_headers_config.frame_options.frame_option", `"ALLOW-FROM" is not one of DENY, SAMEORIGIN`},
		{"referrer", "referrer_policy: no-referrer}", "referrer_policy: nope}",
			"response_headers_policies[0].security_headers_config.referrer_policy.referrer_policy", "not one of"},
		{"xss block and report", "{protection: true, report_uri:", "{protection: true, mode_block: true, report_uri:",
			"response_headers_policies[0].security_headers_config.xss_protection.report_uri", "mode_block"},
		{"xss off with report", "{protection: true, report_uri:", "{protection: false, report_uri:",
			"response_headers_policies[0].security_headers_config.xss_protection.protection", "is false"},
		{"empty csp", `content_security_policy: "default-src 'self'"`, `content_security_policy: ""`,
			"response_headers_policies[0].security_headers_config.content_security_policy.content_security_policy", "required"},
		{"long csp", `content_security_policy: "default-src 'self'"`, `content_security_policy: "` + strings.Repeat("a", 1784) + `"`,
			"response_headers_policies[0].security_headers_config.content_security_policy.content_security_policy", "at most 1783"},
		{"custom header managed by the edge", "{header: X-Team,", "{header: X-Cache,",
			"response_headers_policies[0].custom_headers_config[1].header", "may not be set"},
		{"custom header hop-by-hop", "{header: X-Team,", "{header: Transfer-Encoding,",
			"response_headers_policies[0].custom_headers_config[1].header", "may not be set"},
		{"custom header Tern's own", "{header: X-Team,", "{header: X-Tern-Pop,",
			"response_headers_policies[0].custom_headers_config[1].header", "may not be set"},
		{"custom header set by a security header", "{header: X-Team,", "{header: x-frame-options,",
			"response_headers_policies[0].custom_headers_config[1].header", "already set by this policy's security_headers_config.frame_options"},
		{"custom header set by CORS", "{header: X-Team,", "{header: Access-Control-Allow-Origin,",
			"response_headers_policies[0].custom_headers_config[1].header", "cors_config"},
		{"custom header twice", "{header: X-Team,", "{header: cache-control,",
			"response_headers_policies[0].custom_headers_config[1].header", "custom_headers_config[0]"},
		{"custom value with newline", `value: ""}`, `value: "a\nb"}`,
			"response_headers_policies[0].custom_headers_config[1].value", "CR, LF"},
		{"remove content-length", "[X-Powered-By, Server]", "[X-Powered-By, Content-Length]",
			"response_headers_policies[0].remove_headers_config[1]", "may not be removed"},
		{"remove x-amz-cf-id", "[X-Powered-By, Server]", "[X-Powered-By, X-Amz-Cf-Id]",
			"response_headers_policies[0].remove_headers_config[1]", "may not be removed"},
		{"remove twice", "[X-Powered-By, Server]", "[X-Powered-By, x-powered-by]",
			"response_headers_policies[0].remove_headers_config[1]", "remove_headers_config[0]"},
		{"remove bad name", "[X-Powered-By, Server]", `[X-Powered-By, "a b"]`,
			"response_headers_policies[0].remove_headers_config[1]", "not a header name"},
		{"sampling above 100", "sampling_rate: 12.5", "sampling_rate: 101",
			"response_headers_policies[0].server_timing_headers_config.sampling_rate", "between 0 and 100"},
		{"sampling five decimals", "sampling_rate: 12.5", "sampling_rate: 12.00001",
			"response_headers_policies[0].server_timing_headers_config.sampling_rate", "four decimal"},
		{"sampling missing", "{enabled: true, sampling_rate: 12.5}", "{enabled: true}",
			"response_headers_policies[0].server_timing_headers_config.sampling_rate", "required"},
		{"inline bad", "remove_headers_config: [X-Debug]", "remove_headers_config: [Via]",
			"distributions[0].cache_behaviors[3].response_headers_policy.remove_headers_config[0]", "may not be removed"},
		{"inline name taken", "remove_headers_config: [X-Debug]", "{name: site, remove_headers_config: [X-Debug]}",
			"distributions[0].cache_behaviors[3].response_headers_policy.name", "already the name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(headersBase, tc.old) {
				t.Fatalf("base lacks %q", tc.old)
			}
			_, err := Parse([]byte(strings.Replace(headersBase, tc.old, tc.new, 1)), "test")
			if err == nil {
				t.Fatal("no error")
			}
			for _, fe := range FieldErrors(err) {
				if fe.Field == tc.field && strings.Contains(fe.Problem, tc.problem) {
					return
				}
			}
			t.Errorf("want %s: …%s…, got:\n%v", tc.field, tc.problem, err)
		})
	}
}

func TestCheckCORSOrigin(t *testing.T) {
	for o, ok := range map[string]bool{
		"https://www.example.com":      true,
		"http://localhost:3000":        true,
		"https://*.example.com":        true,
		"*.example.com":                true,
		"www.example.com":              true,
		"http://127.0.0.1:8080":        true,
		"https://www.example.com/":     false,
		"https://www.example.com:port": false,
		"example.*":                    false,
		"https://":                     false,
		"https://exa*mple.org":         false,
		"https://test.*.example.org":   false,
	} {
		if got := checkCORSOrigin(o) == ""; got != ok {
			t.Errorf("%q: valid=%v, want %v (%s)", o, got, ok, checkCORSOrigin(o))
		}
	}
}
