package hashkey

import "testing"

func TestRecordKeys(t *testing.T) {
	h, other := NewHasher(), NewHasher()
	var k, again, swapped, seeded Keys
	h.Record(&k, []byte("123-12"), []byte("123"), []byte("cat1"), true)
	h.Record(&again, []byte("123-12"), []byte("123"), []byte("cat1"), true)
	if k != again {
		t.Fatalf("the same record hashed twice: %+v, then %+v", k, again)
	}
	if k.ID.B&1 == 0 {
		t.Fatalf("ID %+v: B must never be 0", k.ID)
	}
	h.Record(&swapped, []byte("123-12"), []byte("cat1"), []byte("123"), true)
	if swapped.DevCat == k.DevCat {
		t.Fatal("(device, category) and (category, device) have the same key")
	}
	other.Record(&seeded, []byte("123-12"), []byte("123"), []byte("cat1"), true)
	if seeded.ID == k.ID || seeded.DevCat == k.DevCat {
		t.Fatal("two hashers with their own seeds gave the same keys")
	}
	noID := Keys{ID: Key{A: 7, B: 7}}
	h.Record(&noID, []byte("123-12"), []byte("123"), []byte("cat1"), false)
	if noID.ID != (Key{A: 7, B: 7}) || noID.DevCat != k.DevCat || noID.Dev != k.Dev || noID.Cat != k.Cat {
		t.Fatalf("without the id: %+v, want the id untouched and the rest of %+v", noID, k)
	}
}
