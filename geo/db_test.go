package geo_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/terncdn/tern/geo"
	"github.com/terncdn/tern/geo/geotest"
)

var berlin = geo.Location{Country: "DE", CountryName: "Germany", Region: "BE", RegionName: "Land Berlin",
	City: "Berlin", PostalCode: "10115", TimeZone: "Europe/Berlin", Latitude: 52.52, Longitude: 13.405, HasCoordinates: true}

func TestOpenLookup(t *testing.T) {
	city := geotest.City(t,
		geotest.Record{Network: "81.2.69.0/24", Location: berlin},
		geotest.Record{Network: "2001:db8:1::/48", Location: geo.Location{Country: "JP", CountryName: "Japan"}},
	)
	asn := geotest.ASN(t,
		geotest.Record{Network: "81.2.0.0/16", Location: geo.Location{ASN: 3320}},
	)
	db, err := geo.Open(city, asn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	want := berlin
	want.ASN = 3320
	for _, tc := range []struct {
		ip    string
		want  geo.Location
		found bool
	}{
		{"81.2.69.160", want, true},
		{"::ffff:81.2.69.160", want, true},                                         // a mapped IPv4 address is the IPv4 one
		{"81.2.70.1", geo.Location{ASN: 3320}, true},                               // only in the ASN database
		{"2001:db8:1::5", geo.Location{Country: "JP", CountryName: "Japan"}, true}, // no coordinates
		{"192.0.2.1", geo.Location{}, false},
		{"2001:db8:2::1", geo.Location{}, false},
	} {
		got, found := db.Lookup(netip.MustParseAddr(tc.ip))
		if got != tc.want || found != tc.found {
			t.Errorf("Lookup(%s) = %+v, %v; want %+v, %v", tc.ip, got, found, tc.want, tc.found)
		}
	}
}

func TestOpenEitherAbsent(t *testing.T) {
	db, err := geo.Open("", "")
	if err != nil {
		t.Fatal(err)
	}
	if loc, ok := db.Lookup(netip.MustParseAddr("81.2.69.160")); ok || loc != (geo.Location{}) {
		t.Errorf("no databases: Lookup = %+v, %v", loc, ok)
	}
	db, err = geo.Open("", geotest.ASN(t, geotest.Record{Network: "10.0.0.0/8", Location: geo.Location{ASN: 64500}}))
	if err != nil {
		t.Fatal(err)
	}
	if loc, ok := db.Lookup(netip.MustParseAddr("10.1.2.3")); !ok || loc.ASN != 64500 || loc.HasCoordinates {
		t.Errorf("ASN only: Lookup = %+v, %v", loc, ok)
	}
}

func TestOpenErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mmdb")
	os.WriteFile(garbage, []byte("not a database"), 0o644)
	city := geotest.City(t, geotest.Record{Network: "10.0.0.0/8", Location: berlin})
	asn := geotest.ASN(t, geotest.Record{Network: "10.0.0.0/8", Location: geo.Location{ASN: 1}})
	for _, tc := range []struct{ city, asn, want string }{
		{filepath.Join(dir, "missing.mmdb"), "", "missing.mmdb"},
		{garbage, "", "garbage.mmdb"},
		{"", garbage, "garbage.mmdb"},
		{asn, "", "give it as geo.asn_database"},
		{city, city, "not an ASN one"},
	} {
		_, err := geo.Open(tc.city, tc.asn)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q, %q) = %v; want an error with %q", tc.city, tc.asn, err, tc.want)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	db, err := geo.Open(geotest.City(b, geotest.Record{Network: "81.2.69.0/24", Location: berlin}), "")
	if err != nil {
		b.Fatal(err)
	}
	ip := netip.MustParseAddr("81.2.69.160")
	for b.Loop() {
		db.Lookup(ip)
	}
}
