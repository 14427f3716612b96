// Package geotest writes small MaxMind-format databases for tests: a City
// database (GeoLite2-City layout) and an ASN database (GeoLite2-ASN
// layout) holding exactly the networks a test lists.
package geotest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/terncdn/tern/geo"
)

// Record is one network and what a database says of it. WriteCity writes
// the place fields (coordinates only when HasCoordinates); WriteASN the
// ASN.
type Record struct {
	// Network is a CIDR, IPv4 or IPv6: "81.2.69.0/24", "2001:db8::/32".
	Network string
	geo.Location
}

// WriteCity writes a GeoLite2-City layout database of records to path.
func WriteCity(path string, records []Record) error {
	return write(path, "GeoLite2-City", records, cityRecord)
}

// WriteASN writes a GeoLite2-ASN layout database of records to path.
func WriteASN(path string, records []Record) error {
	return write(path, "GeoLite2-ASN", records, func(r Record) mmdbtype.Map {
		return mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(r.ASN),
			"autonomous_system_organization": mmdbtype.String(fmt.Sprintf("AS%d", r.ASN)),
		}
	})
}

// City writes a City database of records into t's temporary directory and
// returns its path; a failure fails t.
func City(t testing.TB, records ...Record) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "city.mmdb")
	if err := WriteCity(path, records); err != nil {
		t.Fatal(err)
	}
	return path
}

// ASN is City for an ASN database.
func ASN(t testing.TB, records ...Record) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "asn.mmdb")
	if err := WriteASN(path, records); err != nil {
		t.Fatal(err)
	}
	return path
}

func cityRecord(r Record) mmdbtype.Map {
	names := func(s string) mmdbtype.Map { return mmdbtype.Map{"en": mmdbtype.String(s)} }
	m := mmdbtype.Map{}
	if r.Country != "" || r.CountryName != "" {
		m["country"] = mmdbtype.Map{"iso_code": mmdbtype.String(r.Country), "names": names(r.CountryName)}
	}
	if r.Region != "" || r.RegionName != "" {
		m["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(r.Region), "names": names(r.RegionName)}}
	}
	if r.City != "" {
		m["city"] = mmdbtype.Map{"names": names(r.City)}
	}
	if r.PostalCode != "" {
		m["postal"] = mmdbtype.Map{"code": mmdbtype.String(r.PostalCode)}
	}
	loc := mmdbtype.Map{}
	if r.HasCoordinates {
		loc["latitude"] = mmdbtype.Float64(r.Latitude)
		loc["longitude"] = mmdbtype.Float64(r.Longitude)
	}
	if r.TimeZone != "" {
		loc["time_zone"] = mmdbtype.String(r.TimeZone)
	}
	if len(loc) > 0 {
		m["location"] = loc
	}
	return m
}

func write(path, dbType string, records []Record, value func(Record) mmdbtype.Map) error {
	// Reserved networks (loopback, documentation ranges) are what tests
	// use, so they are allowed in.
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, IncludeReservedNetworks: true,
		Languages: []string{"en"}, Description: map[string]string{"en": "Tern test database"}})
	if err != nil {
		return fmt.Errorf("geotest: %w", err)
	}
	for _, r := range records {
		_, network, err := net.ParseCIDR(r.Network)
		if err != nil {
			return fmt.Errorf("geotest: network %q: %w", r.Network, err)
		}
		if err := tree.Insert(network, value(r)); err != nil {
			return fmt.Errorf("geotest: insert %s: %w", r.Network, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("geotest: %w", err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("geotest: write %s: %w", path, err)
	}
	return f.Close()
}
