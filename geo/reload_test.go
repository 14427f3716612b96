package geo_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/terncdn/tern/geo"
	"github.com/terncdn/tern/geo/geotest"
)

// TestOverwrittenInPlace: an operator who copies a new database over the
// one in use (cp, or a download written to the same path) changes the
// file under the running process. The DB keeps answering from what it
// read at Open: no fault, no half-old half-new records.
func TestOverwrittenInPlace(t *testing.T) {
	var big []geotest.Record
	for i := range 250 {
		big = append(big, geotest.Record{Network: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16).String(),
			Location: geo.Location{Country: "DE", City: "Berlin", PostalCode: "10115"}})
	}
	big = append(big, geotest.Record{Network: "81.2.69.0/24", Location: berlin})
	path := filepath.Join(t.TempDir(), "city.mmdb")
	if err := geotest.WriteCity(path, big); err != nil {
		t.Fatal(err)
	}
	db, err := geo.Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The new file is far smaller: written in place, it truncates the old.
	small := filepath.Join(t.TempDir(), "small.mmdb")
	if err := geotest.WriteCity(small, []geotest.Record{{Network: "192.0.2.0/24", Location: geo.Location{Country: "FR"}}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(small)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 250 {
		ip := netip.AddrFrom4([4]byte{10, byte(i), 1, 1})
		if loc, ok := db.Lookup(ip); !ok || loc.City != "Berlin" {
			t.Fatalf("after the file changed in place, Lookup(%s) = %+v, %v; want what Open read", ip, loc, ok)
		}
	}
	if loc, ok := db.Lookup(netip.MustParseAddr("81.2.69.160")); !ok || loc != berlin {
		t.Errorf("Lookup(81.2.69.160) = %+v, %v", loc, ok)
	}
}

// TestReload: a database replaced on disk (as geoipupdate replaces it, by
// renaming a new file over the old) is in service after Reload; one that
// is not a database leaves the old one in service; nothing changed,
// nothing is read.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	city, asn := filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "asn.mmdb")
	write := func(path string, asnDB bool, records ...geotest.Record) {
		t.Helper()
		tmp := path + ".new"
		w := geotest.WriteCity
		if asnDB {
			w = geotest.WriteASN
		}
		if err := w(tmp, records); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	ip := netip.MustParseAddr("81.2.69.160")
	write(city, false, geotest.Record{Network: "81.2.69.0/24", Location: geo.Location{Country: "GB", City: "London"}})
	write(asn, true, geotest.Record{Network: "81.2.0.0/16", Location: geo.Location{ASN: 20712}})
	db, err := geo.Open(city, asn)
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := db.Reload(); changed || err != nil {
		t.Errorf("Reload of unchanged files = %v, %v", changed, err)
	}
	write(city, false, geotest.Record{Network: "81.2.69.0/24", Location: berlin})
	if changed, err := db.Reload(); !changed || err != nil {
		t.Fatalf("Reload after the City database changed = %v, %v", changed, err)
	}
	want := berlin
	want.ASN = 20712
	if loc, ok := db.Lookup(ip); !ok || loc != want {
		t.Errorf("after reload: %+v, %v; want %+v", loc, ok, want)
	}
	// An ASN database where the City one belongs, and a half-written
	// file: refused, the databases in service stay, and a later good file
	// is taken.
	write(city, true, geotest.Record{Network: "81.2.69.0/24", Location: geo.Location{ASN: 1}})
	if changed, err := db.Reload(); changed || err == nil || !strings.Contains(err.Error(), "city.mmdb") {
		t.Errorf("Reload of an ASN file as the City one = %v, %v", changed, err)
	}
	if err := os.WriteFile(asn, []byte("half a datab"), 0o644); err != nil {
		t.Fatal(err)
	}
	if changed, err := db.Reload(); changed || err == nil {
		t.Errorf("Reload of a broken file = %v, %v", changed, err)
	}
	if loc, ok := db.Lookup(ip); !ok || loc != want {
		t.Errorf("after failed reloads: %+v, %v; want %+v", loc, ok, want)
	}
	write(city, false, geotest.Record{Network: "81.2.69.0/24", Location: geo.Location{Country: "FR"}})
	write(asn, true, geotest.Record{Network: "81.2.0.0/16", Location: geo.Location{ASN: 3215}})
	if changed, err := db.Reload(); !changed || err != nil {
		t.Fatalf("Reload of good files = %v, %v", changed, err)
	}
	if loc, ok := db.Lookup(ip); !ok || loc != (geo.Location{Country: "FR", ASN: 3215}) {
		t.Errorf("after the good files: %+v, %v", loc, ok)
	}
}

// TestWatch: Watch puts a database changed on disk in service by itself,
// while lookups go on.
func TestWatch(t *testing.T) {
	city := geotest.City(t, geotest.Record{Network: "81.2.69.0/24", Location: geo.Location{Country: "GB"}})
	db, err := geo.Open(city, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { db.Watch(ctx, 10*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	tmp := city + ".new"
	if err := geotest.WriteCity(tmp, []geotest.Record{{Network: "81.2.69.0/24", Location: berlin}}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, city); err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("81.2.69.160")
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if loc, _ := db.Lookup(ip); loc == berlin {
			return
		}
	}
	loc, _ := db.Lookup(ip)
	t.Fatalf("Watch did not reload: %+v", loc)
}
