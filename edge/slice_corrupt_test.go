package edge

import (
	"bytes"
	"net/http/httptest"
	"testing"
)

// TestSlicedCorruptLaterSliceIsFetchedAgain: a stored slice that fails its
// checksum is dropped and fetched again (issue 3), whichever slice of the
// response it is. Only the first slice is checked before the head goes
// out; a bad later one cuts the response, where the origin could have
// sent the same bytes (the object is the same representation).
func TestSlicedCorruptLaterSliceIsFetchedAgain(t *testing.T) {
	const S = 1 << 20
	o := &sparseOrigin{size: 4 * S}
	origin := httptest.NewServer(o)
	defer origin.Close()
	s, ts, d := newDiskTierServer(t, origin.URL)
	edgeSrv := httptest.NewServer(s)
	defer edgeSrv.Close()
	url := edgeSrv.URL + "/y"
	// Slices 0 and 2 stored, 1 not.
	for _, rng := range []string{"bytes=0-99", "bytes=2097152-2097251"} {
		if _, _, err := getSettled(t, s, url, rng); err != nil {
			t.Fatal(err)
		}
	}
	ts.Flush()
	obj, _ := d.Get(string(keyFor(t, s, "/y")))
	f, _, err := obj.File.Open()
	if err != nil {
		t.Fatal(err)
	}
	path := f.Name()
	f.Close()
	flipByte(t, path, 2*S+50) // in slice 2; slice 0 is sound
	resp, body, err := getSettled(t, s, url, "bytes=0-3145727")
	if err != nil || resp.StatusCode != 206 || !bytes.Equal(body, sparseBytes(0, 3*S, 0)) {
		t.Fatalf("range over slices 0 (sound), 1 (missing) and 2 (corrupt): %v after %d bytes", err, len(body))
	}
	if d.Stats().ChecksumFailures == 0 {
		t.Error("checksum failure not counted")
	}
}
