// Package geo locates viewers: an IP address to its country, region,
// city, coordinates and network (ASN), from MaxMind-format databases
// (GeoLite2/GeoIP2 City or Country, ASN, or a custom mmdb). The router
// uses it to send each viewer to the nearest POP; the edge, to add
// CloudFront's viewer headers toward the origin.
package geo

import "net/netip"

// Location is what the databases know of an address: the fields of
// CloudFront's CloudFront-Viewer-* headers. Empty strings and a false
// HasCoordinates mean unknown.
type Location struct {
	// Country is the ISO 3166-1 alpha-2 code ("DE"); CountryName its
	// English name ("Germany").
	Country, CountryName string
	// Region is the ISO 3166-2 subdivision code without the country
	// ("BE" for Berlin); RegionName its English name.
	Region, RegionName string
	City               string
	PostalCode         string
	// TimeZone is the IANA name ("Europe/Berlin").
	TimeZone string
	// Latitude and Longitude are in degrees, when HasCoordinates.
	Latitude, Longitude float64
	HasCoordinates      bool
	// ASN is the autonomous system number; 0 unknown.
	ASN uint
}

// Locator looks addresses up. Implementations are safe for concurrent
// use.
type Locator interface {
	Lookup(ip netip.Addr) (Location, bool)
}
