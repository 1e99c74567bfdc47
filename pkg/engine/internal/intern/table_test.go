package intern

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestTableAgreesWithAMap acquires, releases and sweeps names at random,
// with hashes that collide often (so probe runs are long and deletions shift
// entries back), and checks every id against a plain map.
func TestTableAgreesWithAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	var in Table
	type entry struct {
		id   uint32
		refs int
	}
	want := map[string]*entry{}
	hash := func(name string) uint64 { n, _ := strconv.Atoi(name); return uint64(n % 5) }
	var held []uint32
	for step := range 50_000 {
		switch r := rng.IntN(10); {
		case r < 6:
			name := strconv.Itoa(rng.IntN(200))
			id := in.Acquire([]byte(name), hash(name))
			if w, ok := want[name]; ok && w.id != id {
				t.Fatalf("step %d: %s is %d, was %d", step, name, id, w.id)
			} else if !ok {
				for other, w := range want {
					if w.id == id {
						t.Fatalf("step %d: %s got the id %d of %s", step, name, id, other)
					}
				}
				want[name] = &entry{id: id}
			}
			want[name].refs++
			held = append(held, id)
		case r < 9 && len(held) > 0:
			k := rng.IntN(len(held))
			id := held[k]
			held[k] = held[len(held)-1]
			held = held[:len(held)-1]
			in.Release(id)
			want[in.Name(id)].refs--
		default:
			in.Sweep()
			for name, w := range want {
				if w.refs == 0 && in.refs[w.id] < 0 {
					delete(want, name)
				}
			}
			if in.n != len(want) {
				t.Fatalf("step %d: %d names interned, want %d", step, in.n, len(want))
			}
		}
	}
}
