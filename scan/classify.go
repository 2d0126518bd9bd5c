package scan

import (
	"cmp"
	"net/netip"
	"shoal/notice"
	"slices"
	"strconv"
	"strings"
	"time"
)

// portKey is a port with its protocol: Zeek's port value.
type portKey struct {
	port  uint16
	proto uint8
}

func comparePort(a, b portKey) int {
	if c := cmp.Compare(a.proto, b.proto); c != 0 {
		return c
	}
	return cmp.Compare(a.port, b.port)
}

func (p portKey) String() string { return PortString(p.port, p.proto) }

// Classification is the result of simple-scan's analyze_unique_hostports.
type Classification struct {
	Note  notice.Note // Scan::Address_Scan, Scan::Port_Scan or Scan::Random_Scan
	Text  string      // e.g. "5 unique hosts on port 23/tcp"
	Port  uint16      // the single port, when HasP
	Proto uint8       // its protocol, when HasP
	HasP  bool        // exactly one port was scanned
}

// Classify implements simple-scan's analyze_unique_hostports over a
// scanner's unique attempts:
//
//   - exactly one port: Address_Scan, "%d unique hosts on port %s", with the port;
//   - else exactly one victim: Port_Scan, "%d unique ports on host %s";
//   - else at most 5 ports: Address_Scan, "%d unique hosts on ports %s";
//   - else at most 5 victims: Port_Scan, "%d unique ports on hosts %s";
//   - else Random_Scan, "%d hosts on %d ports".
//
// Ports print Zeek-style ("23/tcp"). Lists are joined by ", " in ascending
// order (Zeek leaves the order unspecified). Classify of no targets is a
// Random_Scan of 0 hosts on 0 ports. It is a pure function, safe for
// concurrent use; it does not modify targets.
func Classify(targets []Target) Classification {
	victims := make(map[netip.Addr]struct{}, len(targets))
	ports := make(map[portKey]struct{}, 8)
	for _, t := range targets {
		victims[t.Victim] = struct{}{}
		ports[portKey{t.Port, normProto(t.Proto)}] = struct{}{}
	}
	nv, np := len(victims), len(ports)
	switch {
	case np == 1:
		var p portKey
		for p = range ports {
		}
		return Classification{Note: AddressScan, Text: itoa(nv) + " unique hosts on port " + p.String(),
			Port: p.port, Proto: p.proto, HasP: true}
	case nv == 1:
		var v netip.Addr
		for v = range victims {
		}
		return Classification{Note: PortScan, Text: itoa(np) + " unique ports on host " + v.String()}
	case np <= 5:
		list := make([]portKey, 0, np)
		for p := range ports {
			list = append(list, p)
		}
		slices.SortFunc(list, comparePort)
		strs := make([]string, len(list))
		for i, p := range list {
			strs[i] = p.String()
		}
		return Classification{Note: AddressScan, Text: itoa(nv) + " unique hosts on ports " + strings.Join(strs, ", ")}
	case nv <= 5:
		list := make([]netip.Addr, 0, nv)
		for v := range victims {
			list = append(list, v)
		}
		slices.SortFunc(list, netip.Addr.Compare)
		strs := make([]string, len(list))
		for i, v := range list {
			strs[i] = v.String()
		}
		return Classification{Note: PortScan, Text: itoa(np) + " unique ports on hosts " + strings.Join(strs, ", ")}
	}
	return Classification{Note: RandomScan, Text: itoa(nv) + " hosts on " + itoa(np) + " ports"}
}

func itoa(n int) string { return strconv.Itoa(n) }

// normProto takes protocol 0 as TCP.
func normProto(p uint8) uint8 {
	if p == 0 {
		return protoTCP
	}
	return p
}

// MinsSecs formats a duration as Zeek's duration_to_mins_secs does:
// whole seconds (truncated), written "%dm%ds", e.g. "3m34s" or "0m0s".
// Negative durations give "0m0s". It is a pure function, safe for
// concurrent use.
func MinsSecs(d time.Duration) string {
	secs := int64(0)
	if d > 0 {
		secs = int64(d / time.Second)
	}
	return strconv.FormatInt(secs/60, 10) + "m" + strconv.FormatInt(secs%60, 10) + "s"
}

// Message builds a notice msg: "<scanner> scanned at least <text> in
// <dur>", prefixed with "kk: " for a knock-knock notice. It is a pure
// function, safe for concurrent use.
func Message(scanner netip.Addr, text string, dur time.Duration, knockKnock bool) string {
	var b strings.Builder
	if knockKnock {
		b.WriteString("kk: ")
	}
	b.WriteString(scanner.String())
	b.WriteString(" scanned at least ")
	b.WriteString(text)
	b.WriteString(" in ")
	b.WriteString(MinsSecs(dur))
	return b.String()
}
