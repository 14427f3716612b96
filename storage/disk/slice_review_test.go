package disk

import (
	"strconv"
	"testing"
)

// TestPartialObjectDoesNotFlushHotSet: one viewer reading end to end an
// object larger than the disk (disk_max_object_size may exceed the disks'
// size, config says) puts its slices one by one. Only the first slice
// goes through Admit; the ones after it grow the partial object without
// any check, so it evicts the whole hot set, as a scan would without
// admission (issue 3: a cold scan must not flush the hot set), and then
// itself. Create refuses a whole body of that size (errTooLarge).
func TestPartialObjectDoesNotFlushHotSet(t *testing.T) {
	const (
		size    = 1 << 20
		ss      = 64 << 10
		objSize = 8 << 10
		hot     = 40
		cold    = 4 * size // one object, four times the store
	)
	s := open(t, Options{Path: t.TempDir(), Size: size, SliceSize: ss})
	defer s.Close()
	<-s.loaded
	for round := range 3 {
		for i := range hot {
			key := "hot/" + strconv.Itoa(i)
			if s.Admit(key) && round == 0 {
				s.Set(key, fullObject(make([]byte, objSize)))
			}
		}
	}
	body := make([]byte, ss)
	for i := range int64(cold / ss) {
		// Errors are the store declining the slice: the viewer is served
		// from the origin all the same.
		_ = s.PutSlice("cold/huge.bin", sliceMeta(`"v1"`), cold, i, body)
	}
	kept := 0
	for i := range hot {
		if _, ok := s.Get("hot/" + strconv.Itoa(i)); ok {
			kept++
		}
	}
	if kept != hot {
		t.Errorf("%d of %d hot objects kept after one cold %d-byte object was read slice by slice (store %d bytes); %+v", kept, hot, cold, size, s.Stats())
	}
	if s.Bytes() > size {
		t.Errorf("Bytes() = %d > %d", s.Bytes(), size)
	}
}
