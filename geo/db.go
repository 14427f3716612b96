package geo

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
)

// DB is a Locator over MaxMind-format databases: a City or Country
// database for places and coordinates, an ASN database for networks.
// Either may be absent. It is safe for concurrent use.
type DB struct {
	city, asn *maxminddb.Reader
}

// Open opens the City (or Country) database at cityPath and the ASN
// database at asnPath; "" leaves that one out. Any database type is
// accepted whose records have the GeoLite2 layout, so custom mmdb files
// work alike; an ASN database given as the City one (or the other way
// round) is refused, naming the file.
func Open(cityPath, asnPath string) (*DB, error) {
	db := &DB{}
	var err error
	if cityPath != "" {
		if db.city, err = openKind(cityPath, false); err != nil {
			return nil, err
		}
	}
	if asnPath != "" {
		if db.asn, err = openKind(asnPath, true); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// openKind opens path and checks its database type is (or is not) an ASN
// one, the one mix-up the layouts cannot tell by themselves: a lookup
// would find records with none of the expected fields.
func openKind(path string, asn bool) (*maxminddb.Reader, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open geo database %s: %w", path, err)
	}
	isASN := strings.Contains(strings.ToUpper(r.Metadata.DatabaseType), "ASN")
	switch {
	case asn && !isASN:
		r.Close()
		return nil, fmt.Errorf("open geo database %s: it is a %q database, not an ASN one (geo.asn_database)", path, r.Metadata.DatabaseType)
	case !asn && isASN:
		r.Close()
		return nil, fmt.Errorf("open geo database %s: it is an ASN database (%q); give it as geo.asn_database and a City or Country one as geo.database", path, r.Metadata.DatabaseType)
	}
	return r, nil
}

// Lookup returns what the databases know of ip, and whether they know
// anything at all. A record that cannot be decoded counts as unknown.
func (db *DB) Lookup(ip netip.Addr) (Location, bool) {
	var loc Location
	found := false
	ip = ip.Unmap()
	if db.city != nil {
		if res := db.city.Lookup(ip); res.Found() {
			var c geoip2.City
			if err := res.Decode(&c); err == nil {
				loc = fromCity(&c)
				found = true
			}
		}
	}
	if db.asn != nil {
		if res := db.asn.Lookup(ip); res.Found() {
			var a geoip2.ASN
			if err := res.Decode(&a); err == nil && a.AutonomousSystemNumber != 0 {
				loc.ASN = a.AutonomousSystemNumber
				found = true
			}
		}
	}
	return loc, found
}

func fromCity(c *geoip2.City) Location {
	loc := Location{
		Country:     c.Country.ISOCode,
		CountryName: c.Country.Names.English,
		City:        c.City.Names.English,
		PostalCode:  c.Postal.Code,
		TimeZone:    c.Location.TimeZone,
	}
	if len(c.Subdivisions) > 0 {
		// The first subdivision is the largest (a state, not a county),
		// which is what CloudFront-Viewer-Country-Region names.
		loc.Region = c.Subdivisions[0].ISOCode
		loc.RegionName = c.Subdivisions[0].Names.English
	}
	if c.Location.HasCoordinates() {
		loc.Latitude, loc.Longitude = *c.Location.Latitude, *c.Location.Longitude
		loc.HasCoordinates = true
	}
	return loc
}

// Close releases the databases.
func (db *DB) Close() error {
	var errs []error
	for _, r := range []*maxminddb.Reader{db.city, db.asn} {
		if r != nil {
			errs = append(errs, r.Close())
		}
	}
	return errors.Join(errs...)
}
