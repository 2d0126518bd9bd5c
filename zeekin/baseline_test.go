package zeekin

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"shoal/known"
	"shoal/site"
	"shoal/zeeklog"
)

// TestConnBaselines reads both wikipedia conn.log baselines and checks every
// column of every row against the text of the baseline (read independently
// with zeeklog.ReadTSV), in TSV and, converted by zeeklog's writer, in JSON.
func TestConnBaselines(t *testing.T) {
	for _, name := range []string{"conn.log", "conn.v3.log"} {
		t.Run(name, func(t *testing.T) {
			path := expected(t, "conn-wikipedia", name)
			ref, err := zeeklog.ReadTSVFile(path)
			if err != nil {
				t.Fatal(err)
			}
			r := readAll(t, path)
			if r.retErr != nil || len(r.errs) != 0 {
				t.Fatalf("ReadFiles: %v %v", r.retErr, r.errs)
			}
			if len(r.conns) != 34 || len(ref.Rows) != 34 {
				t.Fatalf("got %d conns, baseline has %d rows, want 34", len(r.conns), len(ref.Rows))
			}
			if r.stats.Conns != 34 || r.stats.Records != 34 || r.stats.Malformed != 0 || r.stats.Files != 1 {
				t.Errorf("stats = %+v", r.stats)
			}
			masked := name == "conn.log"
			cols := 0
			for i, row := range ref.Rows {
				c := r.conns[i]
				for j, field := range ref.Fields {
					if field == "tunnel_parents" {
						continue // not read
					}
					want := row[j]
					if masked && field == "ts" {
						want = "-" // masked times read as unset
					}
					if got := connColumn(c, field); got != want {
						t.Errorf("row %d %s = %q, want %q", i+1, field, got, want)
					}
					cols++
				}
			}
			t.Logf("%s: 34 rows, %d cells equal to the baseline text", name, cols)

			// A few spelled out.
			tcp := r.conns[24]
			if tcp.History != "DdA" || tcp.ConnState != "OTH" || tcp.OrigP != 35634 ||
				tcp.RespH != netip.MustParseAddr("208.80.152.2") || tcp.Duration != 61329*time.Microsecond ||
				tcp.Service != nil || tcp.Has(HasService) {
				t.Errorf("row 25 = %+v", tcp)
			}
			lone := r.conns[33]
			if lone.History != "^h" || lone.Has(HasDuration) || lone.Has(HasOrigBytes) || !lone.Has(HasRespPkts) || lone.RespPkts != 1 {
				t.Errorf("row 34 = %+v", lone)
			}
			if masked {
				if r.conns[0].Has(HasTS) || !r.conns[0].Has(HasIPProto) || r.conns[0].IPProto != 17 || !r.conns[0].LocalResp {
					t.Errorf("row 1 = %+v", r.conns[0])
				}
			} else {
				want := time.Unix(1300475167, 96535000).UTC()
				if !r.conns[0].TS.Equal(want) || r.conns[0].Has(HasIPProto) || r.conns[0].Has(HasLocalOrig) {
					t.Errorf("row 1 = %+v, want ts %v", r.conns[0], want)
				}
			}

			// The same rows as Zeek JSON.
			jr := readAll(t, toJSON(t, path, t.TempDir()))
			if jr.retErr != nil || len(jr.conns) != 34 {
				t.Fatalf("JSON: %d conns, %v", len(jr.conns), jr.retErr)
			}
			for i, c := range jr.conns {
				want := *r.conns[i]
				if masked {
					want.TS, want.Set = placeholderTS, want.Set|HasTS
				}
				if !connEqual(c, &want) {
					t.Errorf("JSON row %d = %+v\nwant %+v", i+1, *c, want)
				}
			}
		})
	}
}

// connEqual compares every field; a nil Service differs from an empty one.
func connEqual(a, b *Conn) bool { return reflect.DeepEqual(a, b) }

// TestKnownHostsFromConnLog feeds the wikipedia conn.log baselines through
// Zeek's known-hosts rule (EstablishedHosts, site, known.Set) and compares
// the host sets with Zeek's known_hosts logs for each tracking mode.
func TestKnownHostsFromConnLog(t *testing.T) {
	nets, err := site.ParseNets("141.142.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	for _, conn := range []string{"conn.log", "conn.v3.log"} {
		r := readAll(t, expected(t, "conn-wikipedia", conn))
		if r.retErr != nil {
			t.Fatal(r.retErr)
		}
		conns := slices.Clone(r.conns)
		// conn.log is written in removal order; replay in network time order
		// (a no-op for the masked baseline).
		slices.SortStableFunc(conns, func(a, b *Conn) int { return a.TS.Compare(b.TS) })
		for _, mode := range []site.Mode{site.LocalHosts, site.RemoteHosts, site.AllHosts} {
			t.Run(conn+"/"+mode.String(), func(t *testing.T) {
				hosts := known.NewSet[netip.Addr](known.DefaultExpiry)
				got := map[netip.Addr]*Conn{}
				for _, c := range conns {
					orig, resp, ok := EstablishedHosts(c)
					if !ok {
						continue
					}
					for _, h := range []netip.Addr{orig, resp} {
						if nets.Matches(h, mode) && hosts.Observe(h, c.TS) {
							got[h] = c
						}
					}
				}
				for _, base := range []string{"known_hosts-" + mode.String() + ".log", "known_hosts-" + mode.String() + ".v3.log"} {
					ref, err := zeeklog.ReadTSVFile(expected(t, "known-hosts", base))
					if err != nil {
						t.Fatal(err)
					}
					want := map[netip.Addr]string{}
					for _, row := range ref.Rows {
						want[netip.MustParseAddr(row[1])] = row[0]
					}
					if len(got) != len(want) {
						t.Errorf("%s: got %d hosts %v, want %d", base, len(got), keys(got), len(want))
					}
					for h, ts := range want {
						c, ok := got[h]
						if !ok {
							t.Errorf("%s: host %s missing", base, h)
							continue
						}
						if conn != "conn.v3.log" || isMasked([]byte(ts)) {
							continue
						}
						zts, err := parseTime([]byte(ts))
						if err != nil {
							t.Fatal(err)
						}
						// Zeek's ts is the SYN-ACK, inside the connection.
						delta := zts.Sub(c.TS)
						t.Logf("%s %-15s conn ts %s, Zeek (SYN-ACK) ts %s: Zeek later by %v (conn %s:%d)",
							base, h, fmtTS(c.TS), ts, delta, c.RespH, c.OrigP)
						if delta <= 0 || delta > c.Duration {
							t.Errorf("%s: %s: Zeek ts %s not within (conn ts, conn ts+duration] = (%s, +%v]",
								base, h, ts, fmtTS(c.TS), c.Duration)
						}
					}
				}
			})
		}
	}
}

func keys[V any](m map[netip.Addr]V) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func fmtTS(t time.Time) string { return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000) }

// TestCertsFromSSLAndX509 joins the ssl.log and x509.log baselines of
// google-duplicate.pcap, in both layouts, in both file orders, in TSV and
// JSON, and checks the single known_certs row Zeek logged.
func TestCertsFromSSLAndX509(t *testing.T) {
	type layout struct{ ssl, x509, known string }
	for name, l := range map[string]layout{
		"current": {"ssl.log", "x509.log", "known_certs.log"},
		"v3":      {"ssl.v3.log", "x509.v3.log", "known_certs.v3.log"},
	} {
		ref, err := zeeklog.ReadTSVFile(expected(t, "known-certs", l.known))
		if err != nil {
			t.Fatal(err)
		}
		if len(ref.Rows) != 1 {
			t.Fatalf("%s has %d rows", l.known, len(ref.Rows))
		}
		kr := ref.Rows[0]
		ssl, x509 := expected(t, "known-certs", l.ssl), expected(t, "known-certs", l.x509)
		jdir := t.TempDir()
		jssl, jx509 := toJSON(t, ssl, jdir), toJSON(t, x509, jdir)
		for order, paths := range map[string][]string{
			"ssl first": {ssl, x509}, "x509 first": {x509, ssl},
			"json ssl first": {jssl, jx509}, "json x509 first": {jx509, jssl},
		} {
			t.Run(name+"/"+order, func(t *testing.T) {
				r := readAll(t, paths...)
				if r.retErr != nil || len(r.errs) != 0 {
					t.Fatalf("ReadFiles: %v", r.retErr)
				}
				if len(r.certs) != 2 || r.stats.Certs != 2 || r.stats.Unjoined != 0 {
					t.Fatalf("got %d certs, stats %+v; want 2 (one per ssl row)", len(r.certs), r.stats)
				}
				logged := known.NewSet[string](known.DefaultExpiry)
				var rows []*Cert
				for _, c := range r.certs {
					if !c.Established {
						t.Errorf("cert %+v not established", c)
					}
					if logged.Observe(c.Host.String()+"/"+c.Key(), c.TS) {
						rows = append(rows, c)
					}
				}
				if len(rows) != 1 {
					t.Fatalf("%d distinct (host, cert), want 1", len(rows))
				}
				c := rows[0]
				got := []string{c.Host.String(), strconv.Itoa(int(c.Port)), c.Subject, c.Issuer, c.Serial}
				want := []string{kr[1], kr[2], zeeklog.Unescape(kr[3]), zeeklog.Unescape(kr[4]), zeeklog.Unescape(kr[5])}
				if !slices.Equal(got, want) {
					t.Errorf("known cert = %q\nwant        %q", got, want)
				}
				if c.Orig != netip.MustParseAddrPort("192.168.4.149:60623") {
					t.Errorf("orig = %v", c.Orig)
				}
				switch name {
				case "current":
					if c.Fingerprint != "6bacfa4536150ed996f2b0c05ab6e345a257225f449aeb9d2018ccd88f4ede43" || c.FileID != "" {
						t.Errorf("fingerprint %q file id %q", c.Fingerprint, c.FileID)
					}
				case "v3":
					if c.Fingerprint != "" || c.FileID != "FgN3AE3of2TRIqaeQe" {
						t.Errorf("fingerprint %q file id %q", c.Fingerprint, c.FileID)
					}
					zts, err := parseTime([]byte(kr[0]))
					if err != nil {
						t.Fatal(err)
					}
					t.Logf("v3: ssl.log ts %s, x509 ts %s, known_certs (ssl_established) ts %s: Zeek later by %v",
						fmtTS(c.TS), fmtTS(c.X509TS), kr[0], zts.Sub(c.TS))
					if !c.TS.Before(zts) || !c.TS.Before(c.X509TS) {
						t.Errorf("ssl ts %v should precede x509 ts %v and Zeek's %v", c.TS, c.X509TS, zts)
					}
				}
			})
		}
	}
}
