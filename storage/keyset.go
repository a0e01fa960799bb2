package storage

import (
	"encoding/binary"
	"hash/maphash"
)

// keySet is an exact set of strings held compactly: the strings back to
// back in one arena, found through an open-addressing table of offsets. A
// million role-assignment keys cost about 50 MB here against some 200 MB
// as a map[string]bool once the garbage collector's headroom is counted,
// and the collector sees two pointer-free slices instead of a million
// strings.
type keySet struct {
	seed  maphash.Seed
	arena []byte   // each key as a uvarint length and its bytes
	slots []uint32 // arena offset + 1 of a key; 0 is an empty slot
	n     int
}

func newKeySet() *keySet { return &keySet{seed: maphash.MakeSeed()} }

// add inserts k and reports whether it was new.
func (s *keySet) add(k string) bool {
	if s.n*2 >= len(s.slots) {
		s.grow()
	}
	i, found := s.find(k)
	if found {
		return false
	}
	s.slots[i] = uint32(len(s.arena)) + 1
	s.arena = binary.AppendUvarint(s.arena, uint64(len(k)))
	s.arena = append(s.arena, k...)
	s.n++
	return true
}

// has reports whether k is in the set.
func (s *keySet) has(k string) bool {
	if s == nil || s.n == 0 {
		return false
	}
	_, found := s.find(k)
	return found
}

// find returns k's slot, or the empty slot where it belongs.
func (s *keySet) find(k string) (int, bool) {
	mask := len(s.slots) - 1
	i := int(maphash.String(s.seed, k)) & mask
	for {
		off := s.slots[i]
		if off == 0 {
			return i, false
		}
		if string(s.keyAt(off-1)) == k {
			return i, true
		}
		i = (i + 1) & mask
	}
}

// keyAt is the key stored at arena offset off.
func (s *keySet) keyAt(off uint32) []byte {
	n, w := binary.Uvarint(s.arena[off:])
	start := int(off) + w
	return s.arena[start : start+int(n)]
}

func (s *keySet) grow() {
	old := s.slots
	s.slots = make([]uint32, max(2*len(old), 1024))
	mask := len(s.slots) - 1
	for _, off := range old {
		if off == 0 {
			continue
		}
		i := int(maphash.Bytes(s.seed, s.keyAt(off-1))) & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = off
	}
}
