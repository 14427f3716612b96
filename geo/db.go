package geo

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
)

// DB is a Locator over MaxMind-format databases: a City or Country
// database for places and coordinates, an ASN database for networks.
// Either may be absent. It is safe for concurrent use.
//
// The databases are read into memory, not mapped: a file copied over the
// one in use (cp, a download to the same path) would otherwise change
// under the lookups, which then find nothing, or fault where the new file
// is shorter. Reload (and Watch, which calls it when a file changes)
// puts a new copy in service whole; lookups in flight finish on the old.
type DB struct {
	cityPath, asnPath string
	cur               atomic.Pointer[databases]
}

// databases is one generation of a DB's readers, with the files' state
// when they were read.
type databases struct {
	city, asn         *maxminddb.Reader
	cityFile, asnFile fileStamp
}

// fileStamp is what tells a file changed: its size and modification time.
type fileStamp struct {
	size    int64
	modTime time.Time
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: fi.Size(), modTime: fi.ModTime()}, nil
}

// Open reads the City (or Country) database at cityPath and the ASN
// database at asnPath; "" leaves that one out. Any database type is
// accepted whose records have the GeoLite2 layout, so custom mmdb files
// work alike; an ASN database given as the City one (or the other way
// round) is refused, naming the file.
func Open(cityPath, asnPath string) (*DB, error) {
	db := &DB{cityPath: cityPath, asnPath: asnPath}
	d := &databases{}
	var err error
	if cityPath != "" {
		if d.city, d.cityFile, err = openKind(cityPath, false); err != nil {
			return nil, err
		}
	}
	if asnPath != "" {
		if d.asn, d.asnFile, err = openKind(asnPath, true); err != nil {
			return nil, err
		}
	}
	db.cur.Store(d)
	return db, nil
}

// openKind reads path and checks its database type is (or is not) an
// ASN one, the one mix-up the layouts cannot tell by themselves: a lookup
// would find records with none of the expected fields. The stamp is the
// file's before it was read, so that a change during the read is seen
// as a change at the next Reload.
func openKind(path string, asn bool) (*maxminddb.Reader, fileStamp, error) {
	stamp, err := stampOf(path)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("open geo database %s: %w", path, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("open geo database %s: %w", path, err)
	}
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("open geo database %s: %w", path, err)
	}
	isASN := strings.Contains(strings.ToUpper(r.Metadata.DatabaseType), "ASN")
	switch {
	case asn && !isASN:
		return nil, fileStamp{}, fmt.Errorf("open geo database %s: it is a %q database, not an ASN one (geo.asn_database)", path, r.Metadata.DatabaseType)
	case !asn && isASN:
		return nil, fileStamp{}, fmt.Errorf("open geo database %s: it is an ASN database (%q); give it as geo.asn_database and a City or Country one as geo.database", path, r.Metadata.DatabaseType)
	}
	return r, stamp, nil
}

// Reload reads again each database whose file changed (size or
// modification time) since it was read, and puts the new ones in
// service. It reports whether any was; on an error (a file half
// written, or not a database of its kind) the databases in service stay,
// and the next Reload tries again.
func (db *DB) Reload() (bool, error) {
	old := db.cur.Load()
	d := *old
	changed := false
	for _, f := range []struct {
		path  string
		asn   bool
		r     **maxminddb.Reader
		stamp *fileStamp
	}{{db.cityPath, false, &d.city, &d.cityFile}, {db.asnPath, true, &d.asn, &d.asnFile}} {
		if f.path == "" {
			continue
		}
		if s, err := stampOf(f.path); err != nil {
			return false, fmt.Errorf("reload geo database %s: %w", f.path, err)
		} else if s == *f.stamp {
			continue
		}
		r, stamp, err := openKind(f.path, f.asn)
		if err != nil {
			return false, fmt.Errorf("reload: %w", err)
		}
		*f.r, *f.stamp, changed = r, stamp, true
	}
	if changed {
		db.cur.Store(&d)
	}
	return changed, nil
}

// WatchInterval is how often Watch looks at the databases' files.
const WatchInterval = 30 * time.Second

// Watch calls Reload every interval until ctx ends, so that a database
// updated on disk (geoipupdate, weekly for GeoLite2) is in service
// within an interval, without a restart. It logs what it reloads and
// what it cannot.
func (db *DB) Watch(ctx context.Context, interval time.Duration) {
	if db.cityPath == "" && db.asnPath == "" {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			changed, err := db.Reload()
			switch {
			case err != nil:
				slog.Warn("geo database not reloaded; the one in service stays", "error", err)
			case changed:
				slog.Info("geo database reloaded", "database", db.cityPath, "asn_database", db.asnPath)
			}
		}
	}
}

// Lookup returns what the databases know of ip, and whether they know
// anything at all. A record that cannot be decoded counts as unknown.
func (db *DB) Lookup(ip netip.Addr) (Location, bool) {
	var loc Location
	found := false
	ip = ip.Unmap()
	d := db.cur.Load()
	if d.city != nil {
		if res := d.city.Lookup(ip); res.Found() {
			var c geoip2.City
			if err := res.Decode(&c); err == nil {
				loc = fromCity(&c)
				found = true
			}
		}
	}
	if d.asn != nil {
		if res := d.asn.Lookup(ip); res.Found() {
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

// Close releases the databases. They are in memory, which the garbage
// collector frees once nothing uses them: Close has nothing to do, and
// lookups after it still answer.
func (db *DB) Close() error { return nil }
