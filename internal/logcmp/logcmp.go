// Package logcmp compares conn.log and tunnel.log output with Zeek's
// baselines, the way the conformance tests (in-process and multi-process)
// need it: rows are matched by their connection or tunnel, every column the
// baseline has is compared exactly except masked timestamps, uids are
// checked by format and must map one-to-one between the two sides, and
// tunnel_parents and tunnel.log uids are compared through that mapping (the
// outer row they name). It is for tests only.
package logcmp

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Table is a log's rows by column name.
type Table struct {
	Fields []string
	Rows   [][]string
}

// Col returns the index of the named column, or -1.
func (t *Table) Col(name string) int { return slices.Index(t.Fields, name) }

// ReadFile reads a Zeek TSV log or a btest baseline: "#fields" names the
// columns, or (for a zeek-cut baseline) the first line that is not a "#"
// line does. "#" lines and the "### BTest" line are skipped.
func ReadFile(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t := &Table{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for line := 0; sc.Scan(); line++ {
		s := sc.Text()
		if rest, ok := strings.CutPrefix(s, "#fields\t"); ok {
			t.Fields = strings.Split(rest, "\t")
			continue
		}
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		vals := strings.Split(s, "\t")
		if t.Fields == nil {
			t.Fields = vals
			continue
		}
		if len(vals) != len(t.Fields) {
			return nil, fmt.Errorf("%s:%d: %d columns, header has %d", path, line+1, len(vals), len(t.Fields))
		}
		t.Rows = append(t.Rows, vals)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if t.Fields == nil {
		return nil, fmt.Errorf("%s: no header", path)
	}
	return t, nil
}

var (
	uidFormat = regexp.MustCompile(`^C[0-9A-Za-z]{2,21}$`)
	masked    = regexp.MustCompile(`^X+\.X+$`)
)

// comparer carries the uid mapping between the two sides.
type comparer struct {
	diffs     []string
	gotToWant map[string]string
	wantToGot map[string]string
}

func (c *comparer) errorf(format string, args ...any) {
	c.diffs = append(c.diffs, fmt.Sprintf(format, args...))
}

// mapUID records that got and want name the same connection or tunnel; it
// reports a contradiction with an earlier pairing.
func (c *comparer) mapUID(where, got, want string) bool {
	if g, ok := c.wantToGot[want]; ok && g != got {
		c.errorf("%s: uid %s is %s elsewhere, here %s", where, want, g, got)
		return false
	}
	if w, ok := c.gotToWant[got]; ok && w != want {
		c.errorf("%s: uid %s stands for %s elsewhere, here %s", where, got, w, want)
		return false
	}
	c.gotToWant[got], c.wantToGot[want] = want, got
	return true
}

// Compare compares got conn.log and tunnel.log tables with the baselines
// (either baseline may be nil: not compared) and returns the differences,
// none when they agree.
func Compare(gotConn, wantConn, gotTunnel, wantTunnel *Table) []string {
	c := &comparer{gotToWant: map[string]string{}, wantToGot: map[string]string{}}
	if wantConn != nil {
		c.conn(gotConn, wantConn)
	}
	if wantTunnel != nil {
		c.tunnel(gotTunnel, wantTunnel)
	}
	return c.diffs
}

// project returns row's values for the columns of want, in want's order
// (or "" for a column got lacks).
func project(got *Table, row []string, fields []string) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		if j := got.Col(f); j >= 0 {
			out[i] = row[j]
		}
	}
	return out
}

// rowKey identifies a row for matching: the connection's endpoints and
// proto when the baseline has them, otherwise every compared column except
// uid, ts and tunnel_parents (zeek-cut baselines without endpoints).
func rowKey(fields, vals []string) string {
	var b strings.Builder
	ids := []string{"proto", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "tunnel_type", "action"}
	have := false
	for _, id := range ids {
		if i := slices.Index(fields, id); i >= 0 {
			b.WriteString(vals[i] + " ")
			have = true
		}
	}
	if have {
		return b.String()
	}
	for i, f := range fields {
		if f != "uid" && f != "ts" && f != "tunnel_parents" {
			b.WriteString(vals[i] + " ")
		}
	}
	return b.String()
}

// match pairs each baseline row with an unused got row of the same key and
// returns, per baseline row, the got row (nil when missing) and the got
// rows left over.
func match(got, want *Table) (pairs [][]string, extra [][]string) {
	byKey := map[string][]int{}
	for i, r := range got.Rows {
		k := rowKey(want.Fields, project(got, r, want.Fields))
		byKey[k] = append(byKey[k], i)
	}
	used := make([]bool, len(got.Rows))
	for _, w := range want.Rows {
		var g []string
		k := rowKey(want.Fields, w)
		if idx := byKey[k]; len(idx) > 0 {
			byKey[k] = idx[1:]
			used[idx[0]] = true
			g = project(got, got.Rows[idx[0]], want.Fields)
		}
		pairs = append(pairs, g)
	}
	for i, r := range got.Rows {
		if !used[i] {
			extra = append(extra, r)
		}
	}
	return pairs, extra
}

func (c *comparer) conn(got, want *Table) {
	if got == nil {
		got = &Table{}
	}
	pairs, extra := match(got, want)
	for _, r := range extra {
		c.errorf("conn.log: row not in the baseline: %s", strings.Join(r, " "))
	}
	uidCol, parCol := want.Col("uid"), want.Col("tunnel_parents")
	for i, w := range want.Rows {
		g := pairs[i]
		where := "conn.log row " + rowKey(want.Fields, w)
		if g == nil {
			c.errorf("%s: missing", where)
			continue
		}
		if uidCol >= 0 {
			if !uidFormat.MatchString(g[uidCol]) {
				c.errorf("%s: uid %q is not in Zeek's format", where, g[uidCol])
			}
			c.mapUID(where, g[uidCol], w[uidCol])
		}
		for j, f := range want.Fields {
			switch {
			case f == "uid" || f == "tunnel_parents":
			case f == "ts" && masked.MatchString(w[j]):
			case g[j] != w[j]:
				c.errorf("%s: %s = %q, Zeek %q", where, f, g[j], w[j])
			}
		}
	}
	if parCol < 0 {
		return
	}
	// Parents after every row's uid is mapped: a parent is a conn.log row
	// (UDP tunnels) or an IP tunnel, which only tunnel_parents and
	// tunnel.log name; those pair up where a row leaves exactly one open.
	for pass := 0; pass < 2; pass++ {
		for i, w := range want.Rows {
			if g := pairs[i]; g != nil {
				c.parents("conn.log row "+rowKey(want.Fields, w), g[parCol], w[parCol], pass == 1)
			}
		}
	}
}

// parents compares two tunnel_parents sets through the uid mapping. In the
// first pass it only pairs single open uids; in the second it reports.
func (c *comparer) parents(where, got, want string, report bool) {
	split := func(s string) []string {
		if s == "-" || s == "(empty)" || s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	gs, ws := split(got), split(want)
	var openG, openW []string
	for _, g := range gs {
		if w, ok := c.gotToWant[g]; !ok {
			openG = append(openG, g)
		} else if !slices.Contains(ws, w) {
			if report {
				c.errorf("%s: tunnel_parents %s (%s there), Zeek %s", where, got, w, want)
			}
			return
		}
	}
	for _, w := range ws {
		if g, ok := c.wantToGot[w]; !ok || !slices.Contains(gs, g) {
			if _, mapped := c.wantToGot[w]; !mapped {
				openW = append(openW, w)
			} else if report {
				c.errorf("%s: tunnel_parents %s, Zeek %s", where, got, want)
				return
			}
		}
	}
	if len(gs) != len(ws) {
		if report {
			c.errorf("%s: tunnel_parents %s, Zeek %s", where, got, want)
		}
		return
	}
	if len(openG) == 1 && len(openW) == 1 {
		c.mapUID(where, openG[0], openW[0])
	} else if report && len(openG) > 0 {
		c.errorf("%s: tunnel_parents %s cannot be paired with Zeek's %s", where, got, want)
	}
}

func (c *comparer) tunnel(got, want *Table) {
	if got == nil {
		got = &Table{}
	}
	pairs, extra := match(got, want)
	for _, r := range extra {
		c.errorf("tunnel.log: row not in the baseline: %s", strings.Join(r, " "))
	}
	uidCol := want.Col("uid")
	for i, w := range want.Rows {
		g := pairs[i]
		where := "tunnel.log row " + rowKey(want.Fields, w)
		if g == nil {
			c.errorf("%s: missing", where)
			continue
		}
		for j, f := range want.Fields {
			switch {
			case f == "uid":
				if !uidFormat.MatchString(g[j]) {
					c.errorf("%s: uid %q is not in Zeek's format", where, g[j])
				}
				c.mapUID(where, g[j], w[j])
			case f == "ts" && masked.MatchString(w[j]):
			case g[j] != w[j]:
				c.errorf("%s: %s = %q, Zeek %q", where, f, g[j], w[j])
			}
		}
	}
	if uidCol < 0 {
		return
	}
	// Each tunnel is discovered before it is closed or expired.
	act := got.Col("action")
	seen := map[string]bool{}
	for _, r := range got.Rows {
		if act < 0 {
			break
		}
		u := r[got.Col("uid")]
		if r[act] == "Tunnel::DISCOVER" {
			seen[u] = true
		} else if !seen[u] {
			c.errorf("tunnel.log: %s for %s before its DISCOVER", r[act], u)
		}
	}
}
