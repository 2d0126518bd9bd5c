package route

import (
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"shoal/internal/memnet"
	"shoal/internal/wire"
)

func TestValidTransition(t *testing.T) {
	all := []peerState{stateConnecting, stateUp, stateSuspect, stateGone}
	allowed := map[[2]peerState]bool{
		{stateConnecting, stateUp}:      true,
		{stateConnecting, stateSuspect}: true,
		{stateConnecting, stateGone}:    true,
		{stateUp, stateSuspect}:         true,
		{stateUp, stateGone}:            true,
		{stateSuspect, stateUp}:         true,
		{stateSuspect, stateGone}:       true,
	}
	for _, from := range all {
		for _, to := range all {
			want := allowed[[2]peerState{from, to}]
			if got := validTransition(from, to); got != want {
				t.Errorf("%s -> %s: valid %v, want %v", from, to, got, want)
			}
			p := &peer{name: "p", state: from}
			panicked := func() (panicked bool) {
				defer func() { panicked = recover() != nil }()
				p.transitionLocked(to)
				return false
			}()
			if panicked == want {
				t.Errorf("%s -> %s: panicked %v", from, to, panicked)
			}
		}
	}
}

// peerState returns the lifecycle state of the named peer as Peers reports it.
func peerStateOf(t *testing.T, r *Router, name string) string {
	t.Helper()
	for _, p := range r.Peers() {
		if p.Name == name {
			if p.Connected != (p.State == "up") || p.Suspect != (p.State == "suspect") {
				t.Fatalf("inconsistent status %+v", p)
			}
			return p.State
		}
	}
	return "absent"
}

// TestPeerLifecycle walks one peer through every state on virtual time:
// connecting while its first handshake hangs, suspect when it times out,
// up once it answers, suspect when the network cuts it, up again after the
// heal, and gone when it leaves the view.
func TestPeerLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := memnet.New(1)
		wln, err := nw.Listen("10.0.0.1:7000")
		if err != nil {
			t.Fatal(err)
		}
		w, err := New(Config{
			Name: "worker-1", Pool: "worker", BootID: 1, Listener: wln, Dial: nw.DialFunc("10.0.0.1"),
			Deliver:    func(Sender, wire.Type, []byte) Outcome { return OK },
			AckTimeout: time.Second, ReconnectInterval: 100 * time.Millisecond,
			Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		})
		if err != nil {
			t.Fatal(err)
		}
		w.Start(context.Background())
		defer w.Close()

		// A listener that accepts and never answers the hello.
		mute, err := nw.Listen("10.0.1.1:7000")
		if err != nil {
			t.Fatal(err)
		}
		var held []net.Conn
		go func() {
			for {
				c, err := mute.Accept()
				if err != nil {
					return
				}
				held = append(held, c)
			}
		}()
		dn := Peer{Name: "datanode-1", Pool: "datanode", DataAddr: "10.0.1.1:7000", BootID: 5}
		w.SetMembers([]Peer{dn})
		synctest.Wait()
		if got := peerStateOf(t, w, dn.Name); got != "connecting" {
			t.Fatalf("state %s during the first handshake, want connecting", got)
		}
		if got := w.Rings()["datanode"].Members; len(got) != 1 {
			t.Fatalf("connecting peer not in the ring: %v", got)
		}
		time.Sleep(2 * time.Second) // the handshake deadline passes
		synctest.Wait()
		if got := peerStateOf(t, w, dn.Name); got != "suspect" {
			t.Fatalf("state %s after a handshake timeout, want suspect", got)
		}
		if got := w.Rings()["datanode"].Members; len(got) != 0 {
			t.Fatalf("suspect peer still in the ring: %v", got)
		}

		// The real datanode takes the address over.
		_ = mute.Close()
		synctest.Wait() // the acceptor returned
		for _, c := range held {
			_ = c.Close()
		}
		ln, err := nw.Listen("10.0.1.1:7000")
		if err != nil {
			t.Fatal(err)
		}
		d, err := New(Config{Name: dn.Name, Pool: dn.Pool, BootID: dn.BootID, Listener: ln, Dial: nw.DialFunc("10.0.1.1"),
			Deliver: func(Sender, wire.Type, []byte) Outcome { return OK }})
		if err != nil {
			t.Fatal(err)
		}
		d.Start(context.Background())
		defer d.Close()
		time.Sleep(5 * time.Second) // backoff retries reach it
		synctest.Wait()
		if got := peerStateOf(t, w, dn.Name); got != "up" {
			t.Fatalf("state %s after the datanode came up, want up", got)
		}
		nw.Partition([]string{"10.0.1.1"}, []string{"*"})
		synctest.Wait()
		if got := peerStateOf(t, w, dn.Name); got != "suspect" {
			t.Fatalf("state %s after a partition, want suspect", got)
		}
		nw.Heal()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := peerStateOf(t, w, dn.Name); got != "up" {
			t.Fatalf("state %s after the heal, want up", got)
		}
		w.mu.Lock()
		p := w.view[dn.Name]
		w.mu.Unlock()
		w.SetMembers(nil)
		if got := peerStateOf(t, w, dn.Name); got != "absent" {
			t.Fatalf("departed peer still listed as %s", got)
		}
		p.mu.Lock()
		st := p.state
		p.mu.Unlock()
		if st != stateGone {
			t.Fatalf("departed peer in state %s, want gone", st)
		}
	})
}
