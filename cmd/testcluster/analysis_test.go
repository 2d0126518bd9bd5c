package main

import (
	"strings"
	"testing"

	"shoal/zeeklog"
)

func ssLog(rows ...string) *zeeklog.Log {
	l := &zeeklog.Log{Path: "sumstats", Fields: strings.Fields("ts name event epoch_start key_host key_str stream sum unique threshold")}
	for _, r := range rows {
		l.Rows = append(l.Rows, strings.Fields(r))
	}
	return l
}

func TestAnalysis(t *testing.T) {
	notices := &zeeklog.Log{Path: "notice", Fields: []string{"ts", "note", "msg", "src"}, Rows: [][]string{
		{"1", "Demo::Many_Attempts", "crossed", "203.0.113.1"},
		{"2", "Scan::Random_Scan", "scanned", "203.0.113.1"},
	}}
	tests := []struct {
		name     string
		notices  *zeeklog.Log
		sumstats *zeeklog.Log
		wantTop  []string // keys of a's top, in order
		wantLast string
		wantErrs []string
	}{
		{
			name:    "last finished epoch with results, by sum",
			notices: notices,
			sumstats: ssLog(
				"2 a epoch_result 0 10.0.0.1 - s 9 9 -",
				"2 a epoch_finished 0 - - - - - -",
				"4 a epoch_result 2 10.0.0.1 - s 1 1 -",
				"4 a epoch_result 2 10.0.0.2 - s 5 4 -",
				"4 a epoch_result 2 10.0.0.3 - s 3 3 -",
				"4 a epoch_result 2 10.0.0.4 - s 2 2 -",
				"3 a threshold_crossed 2 10.0.0.2 - s 5 4 3",
				"4 a epoch_finished 2 - - - - - -",
				"6 a epoch_result 4 10.0.0.9 - s 99 1 -", // not finished
			),
			wantTop: []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"}, wantLast: "2",
		},
		{
			name:     "no scan notice, no epoch result",
			notices:  &zeeklog.Log{Fields: []string{"note", "msg", "src"}, Rows: [][]string{{"Demo::X", "m", "1.2.3.4"}}},
			sumstats: ssLog("4 a epoch_finished 2 - - - - - -"),
			wantErrs: []string{"no scan notice", "no SumStats epoch_result"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &analysis{byNote: map[string]int{}, sumstats: map[string]*sumstatSummary{}}
			a.addNotices(tc.notices)
			if err := a.addSumStats(tc.sumstats); err != nil {
				t.Fatal(err)
			}
			for _, s := range a.sumstats {
				s.pickTop(3)
			}
			s := a.sumstats["a"]
			var top []string
			for _, r := range s.top {
				top = append(top, r.key)
			}
			if strings.Join(top, ",") != strings.Join(tc.wantTop, ",") || s.last != tc.wantLast {
				t.Errorf("top %v last %q, want %v %q", top, s.last, tc.wantTop, tc.wantLast)
			}
			errs := a.problems()
			if len(errs) != len(tc.wantErrs) {
				t.Fatalf("problems %v, want %d", errs, len(tc.wantErrs))
			}
			for i, e := range errs {
				if !strings.Contains(e.Error(), tc.wantErrs[i]) {
					t.Errorf("problem %q, want %q", e, tc.wantErrs[i])
				}
			}
			var b strings.Builder
			a.render(&b)
			for _, want := range []string{"notices (notice.log)", "sumstats (sumstats.log)"} {
				if !strings.Contains(b.String(), want) {
					t.Errorf("render lacks %q:\n%s", want, b.String())
				}
			}
		})
	}
}

func TestAddSumStatsMissingColumn(t *testing.T) {
	a := &analysis{byNote: map[string]int{}, sumstats: map[string]*sumstatSummary{}}
	if err := a.addSumStats(&zeeklog.Log{Fields: []string{"ts", "name"}}); err == nil {
		t.Fatal("no error for a sumstats.log without its columns")
	}
}
