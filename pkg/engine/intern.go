package engine

// noID is returned by lookup for a name not interned.
const noID = ^uint32(0)

// interner maps device ids and categories to small integers so aggregate
// keys are fixed-size and a lookup by []byte does not allocate. Names are
// reference-counted by open aggregates and dropped when unused, so a fleet
// whose devices come and go does not grow it forever.
type interner struct {
	ids   map[string]uint32
	names []string
	refs  []int32 // -1: free slot
	free  []uint32
	zero  []uint32 // ids whose count reached 0, dropped by the next sweep
}

func newInterner() interner {
	return interner{ids: make(map[string]uint32)}
}

// smallInterner is the size up to which a linear scan beats hashing: the
// categories of a fleet are usually a handful.
const smallInterner = 8

func (in *interner) lookup(b []byte) uint32 {
	if len(in.names) <= smallInterner {
		for id, name := range in.names {
			if name == string(b) && in.refs[id] >= 0 {
				return uint32(id)
			}
		}
		return noID
	}
	if id, ok := in.ids[string(b)]; ok {
		return id
	}
	return noID
}

// acquire returns the id of b and counts one more user. It allocates only
// for a name not yet interned.
func (in *interner) acquire(b []byte) uint32 {
	if id, ok := in.ids[string(b)]; ok {
		in.refs[id]++
		return id
	}
	name := string(b)
	var id uint32
	if n := len(in.free); n > 0 {
		id, in.free = in.free[n-1], in.free[:n-1]
		in.names[id], in.refs[id] = name, 1
	} else {
		id = uint32(len(in.names))
		in.names = append(in.names, name)
		in.refs = append(in.refs, 1)
	}
	in.ids[name] = id
	return id
}

func (in *interner) release(id uint32) {
	in.refs[id]--
	if in.refs[id] == 0 {
		in.zero = append(in.zero, id)
	}
}

func (in *interner) sweep() {
	for _, id := range in.zero {
		if in.refs[id] == 0 {
			delete(in.ids, in.names[id])
			in.names[id], in.refs[id] = "", -1
			in.free = append(in.free, id)
		}
	}
	in.zero = in.zero[:0]
}
