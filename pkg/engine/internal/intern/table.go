// Package intern maps the names of devices and categories to small
// integers, so that the engine's aggregates are fixed-size and a lookup by
// []byte does not allocate.
package intern

// Table maps device ids or categories to small integers so aggregate keys
// are fixed-size and a lookup by []byte does not allocate. Names are
// reference-counted by open aggregates and dropped when unused, so a fleet
// whose devices come and go does not grow it forever.
//
// A name is found by the seeded hash the engine already computed for the
// record (hashkey.Keys), in an open-addressing table with linear probing: no
// second hash of the name, and a hit compares the name once. Its zero value
// is an empty table.
type Table struct {
	slots  []slot
	mask   uint64
	n      int // interned names
	names  []string
	hashes []uint64
	refs   []int32 // -1: free id
	free   []uint32
	zero   []uint32 // ids whose count reached 0, dropped by the next Sweep
}

// slot is a name's hash and id+1; id 0 marks a free slot.
type slot struct {
	hash uint64
	id   uint32
}

const minSlots = 16

// Acquire returns the id of b, whose hash is h, and counts one more user.
// It allocates only for a name not yet interned.
func (in *Table) Acquire(b []byte, h uint64) uint32 {
	if len(in.slots) == 0 {
		in.resize(minSlots)
	}
	i := h & in.mask
	for ; in.slots[i].id != 0; i = (i + 1) & in.mask {
		if sl := in.slots[i]; sl.hash == h && in.names[sl.id-1] == string(b) {
			in.refs[sl.id-1]++
			return sl.id - 1
		}
	}
	name := string(b)
	var id uint32
	if n := len(in.free); n > 0 {
		id, in.free = in.free[n-1], in.free[:n-1]
		in.names[id], in.hashes[id], in.refs[id] = name, h, 1
	} else {
		id = uint32(len(in.names))
		in.names = append(in.names, name)
		in.hashes = append(in.hashes, h)
		in.refs = append(in.refs, 1)
	}
	in.slots[i] = slot{hash: h, id: id + 1}
	// At most half full: probe runs stay short.
	if in.n++; in.n*2 > len(in.slots) {
		in.resize(2 * len(in.slots))
	}
	return id
}

// Name returns the name of id, which must be acquired.
func (in *Table) Name(id uint32) string { return in.names[id] }

// Release counts one user of id less. A name no longer used is dropped by
// the next Sweep, unless it is acquired again before.
func (in *Table) Release(id uint32) {
	in.refs[id]--
	if in.refs[id] == 0 {
		in.zero = append(in.zero, id)
	}
}

// Sweep drops the names whose count reached 0 since the previous Sweep and
// is still 0.
func (in *Table) Sweep() {
	for _, id := range in.zero {
		if in.refs[id] == 0 {
			in.delete(id)
			in.names[id], in.refs[id] = "", -1
			in.free = append(in.free, id)
		}
	}
	in.zero = in.zero[:0]
}

// delete takes id out of the table and shifts the entries after it back
// along their probe runs (Knuth's algorithm R), so no tombstone is left.
func (in *Table) delete(id uint32) {
	i := in.hashes[id] & in.mask
	for in.slots[i].id != id+1 {
		i = (i + 1) & in.mask
	}
	for j := (i + 1) & in.mask; in.slots[j].id != 0; j = (j + 1) & in.mask {
		// The entry at j stays unless its home lies cyclically outside
		// (i, j]: then the hole at i is on its probe run.
		h := in.slots[j].hash & in.mask
		if (j-h)&in.mask < (j-i)&in.mask {
			continue
		}
		in.slots[i] = in.slots[j]
		i = j
	}
	in.slots[i] = slot{}
	in.n--
}

func (in *Table) resize(size int) {
	old := in.slots
	in.slots = make([]slot, size)
	in.mask = uint64(size - 1)
	for _, sl := range old {
		if sl.id != 0 {
			i := sl.hash & in.mask
			for in.slots[i].id != 0 {
				i = (i + 1) & in.mask
			}
			in.slots[i] = sl
		}
	}
}
