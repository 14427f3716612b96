package test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/terncdn/tern/geo"
	"github.com/terncdn/tern/geo/geotest"
)

// TestViewerHeadersFromTheGeoDatabase: the real binary, given a City and
// an ASN database, adds the viewer headers a behavior's origin request
// policy names, from the viewer's address (127.0.0.1 here), and replaces
// what a viewer sent under those names.
func TestViewerHeadersFromTheGeoDatabase(t *testing.T) {
	city := geotest.City(t, geotest.Record{Network: "127.0.0.0/8", Location: geo.Location{
		Country: "DE", CountryName: "Germany", Region: "BE", RegionName: "Land Berlin", City: "Berlin",
		TimeZone: "Europe/Berlin", Latitude: 52.52, Longitude: 13.405, HasCoordinates: true}})
	asn := geotest.ASN(t, geotest.Record{Network: "127.0.0.0/8", Location: geo.Location{ASN: 64500}})
	var got http.Header
	o := startOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("ok"))
	})
	cfg := basicConfig(o, `    default_cache_behavior:
      target_origin_id: web
      origin_request_policy:
        headers: {behavior: whitelist, names: [CloudFront-Viewer-Country, CloudFront-Viewer-City, CloudFront-Viewer-Latitude, CloudFront-Viewer-ASN, CloudFront-Is-Mobile-Viewer]}
`)
	cfg = strings.Replace(cfg, "admin:\n", "geo:\n  database: \""+city+"\"\n  asn_database: \""+asn+"\"\nadmin:\n", 1)
	n := startTern(t, cfg)
	resp, _ := n.get("/x", "CloudFront-Viewer-Country", "US",
		"User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148")
	if resp.StatusCode != 200 || got == nil {
		t.Fatalf("GET /x: %d", resp.StatusCode)
	}
	for name, want := range map[string]string{
		"CloudFront-Viewer-Country":   "DE",
		"CloudFront-Viewer-City":      "Berlin",
		"CloudFront-Viewer-Latitude":  "52.52",
		"CloudFront-Viewer-Asn":       "64500",
		"CloudFront-Is-Mobile-Viewer": "true",
	} {
		if v := got.Get(name); v != want {
			t.Errorf("origin got %s: %q, want %q", name, v, want)
		}
	}
	if v := got.Get("CloudFront-Viewer-Time-Zone"); v != "" {
		t.Errorf("a header the policy does not name reached the origin: Time-Zone %q", v)
	}
}
