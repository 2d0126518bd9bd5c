package flow

import "testing"

// TestFlowTable checks the table against a map under random puts and
// deletes, with a hash forced into few buckets so probes collide and wrap.
func TestFlowTable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conns int
		hashK uint64 // hash = key index % hashK (0: the table's own hash)
	}{{"own hash, growing", 3000, 0}, {"colliding", 200, 7}, {"wrapping", 100, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			tab := newFlowTable(0)
			conns := make([]*Conn, tc.conns)
			for i := range conns {
				c := &Conn{}
				c.key.a[0], c.key.a[1], c.key.ports = byte(i), byte(i>>8), uint32(i)
				c.hash = tab.hash(&c.key)
				if tc.hashK != 0 {
					c.hash = uint64(len(tab.slots)-1) - uint64(i)%tc.hashK // near the end: wraps
				}
				conns[i] = c
			}
			in := map[*Conn]bool{}
			seed := uint64(3)
			rnd := func(n int) int {
				seed = seed*6364136223846793005 + 1442695040888963407
				return int((seed >> 33) % uint64(n))
			}
			for step := range 10000 {
				c := conns[rnd(len(conns))]
				if in[c] {
					tab.del(c, c.hash)
					delete(in, c)
				} else {
					tab.put(c, c.hash)
					in[c] = true
				}
				if step%100 == 0 || step > 9900 {
					for _, c := range conns {
						if got := tab.get(&c.key, c.hash); (got == c) != in[c] || (got != nil && got != c) {
							t.Fatalf("step %d: get = %p, want in %v", step, got, in[c])
						}
					}
					if tab.len() != len(in) {
						t.Fatalf("step %d: len %d, want %d", step, tab.len(), len(in))
					}
				}
			}
			tab.clear()
			for _, c := range conns {
				if tab.get(&c.key, c.hash) != nil || tab.len() != 0 {
					t.Fatal("entry left after clear")
				}
			}
		})
	}
}
