// Command mkgeo writes the small City database bench/dns/run.sh gives the
// router: a few networks in cities near each benchmark POP, so that
// queries carrying an EDNS Client Subnet are placed and routed.
package main

import (
	"fmt"
	"os"

	"github.com/terncdn/tern/geo"
	"github.com/terncdn/tern/geo/geotest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkgeo CITY.mmdb")
		os.Exit(2)
	}
	err := geotest.WriteCity(os.Args[1], []geotest.Record{
		{Network: "81.2.69.0/24", Location: geo.Location{Country: "DE", City: "Berlin", Latitude: 52.52, Longitude: 13.40, HasCoordinates: true}},
		{Network: "198.51.100.0/24", Location: geo.Location{Country: "US", City: "New York", Latitude: 40.71, Longitude: -74.0, HasCoordinates: true}},
		{Network: "203.0.113.0/24", Location: geo.Location{Country: "JP", City: "Osaka", Latitude: 34.69, Longitude: 135.50, HasCoordinates: true}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkgeo:", err)
		os.Exit(1)
	}
}
