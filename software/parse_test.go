package software

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"shoal/internal/zeekdata"
)

// zeekString decodes the body of a Zeek string literal: \\, \", \xHH and
// the usual letter escapes.
func zeekString(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case 'x':
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				t.Fatalf("bad escape in %q", s)
			}
			b.WriteByte(byte(n))
			i += 2
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

type parseCase struct {
	input string
	want  Description
}

var (
	reEntry = regexp.MustCompile(`\["((?:[^"\\]|\\.)*)"\]\s*=\s*\[\$name="((?:[^"\\]|\\.)*)",\s*\$version=\[([^\]]*)\],\s*\$unparsed_version=""\]`)
	reField = regexp.MustCompile(`\$(major|minor|minor2|minor3|addl)=("(?:[^"\\]|\\.)*"|[0-9]+)`)
)

// zeekParseCases reads the matched_software table of Zeek's
// version-parsing test (../shared/zeek/expected/software-version-parsing/test.zeek).
func zeekParseCases(t *testing.T) []parseCase {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(zeekdata.Path(t), "expected", "software-version-parsing", "test.zeek"))
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			text.WriteString(line)
			text.WriteByte('\n')
		}
	}
	var cases []parseCase
	for _, m := range reEntry.FindAllStringSubmatch(text.String(), -1) {
		c := parseCase{input: zeekString(t, m[1]), want: Description{Name: zeekString(t, m[2]), Unparsed: zeekString(t, m[1])}}
		for _, f := range reField.FindAllStringSubmatch(m[3], -1) {
			if f[1] == "addl" {
				c.want.Version = c.want.Version.WithAddl(zeekString(t, f[2][1:len(f[2])-1]))
				continue
			}
			n, err := strconv.ParseUint(f[2], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			switch f[1] {
			case "major":
				c.want.Version = c.want.Version.WithMajor(n)
			case "minor":
				c.want.Version = c.want.Version.WithMinor(n)
			case "minor2":
				c.want.Version = c.want.Version.WithMinor2(n)
			case "minor3":
				c.want.Version = c.want.Version.WithMinor3(n)
			}
		}
		cases = append(cases, c)
	}
	return cases
}

// TestParseZeekTable checks every entry of Zeek's version-parsing table:
// name, unparsed string and every version part equal, as the baseline
// output ("success on:" for each input) records.
func TestParseZeekTable(t *testing.T) {
	cases := zeekParseCases(t)
	f, err := os.Open(filepath.Join(zeekdata.Path(t), "expected", "software-version-parsing", "output"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	successes := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "success on: ") {
			successes++
		} else if !strings.HasPrefix(sc.Text(), "#") {
			t.Fatalf("baseline line %q", sc.Text())
		}
	}
	if len(cases) != successes || len(cases) < 60 {
		t.Fatalf("%d table entries, %d successes in Zeek's output", len(cases), successes)
	}
	t.Logf("%d entries of Zeek's table", len(cases))
	for _, c := range cases {
		got := Parse(c.input)
		if got != c.want || Cmp(got.Version, c.want.Version) != 0 {
			t.Errorf("Parse(%q)\n got  %+v\n want %+v", c.input, got, c.want)
		}
	}
}

func TestParseMore(t *testing.T) {
	for in, want := range map[string]Description{
		// Zeek's software-http-flash baseline rows.
		"Mozilla/5.0 (Macintosh; U; Intel Mac OS X; en) AppleWebKit/531.9 (KHTML, like Gecko) AdobeAIR/2.6": {
			Name: "AdobeAIR", Version: Version{}.WithMajor(2).WithMinor(6)},
		"AdobeAIR-Flash/10,2,159,1": {Name: "AdobeAIR-Flash",
			Version: Version{}.WithMajor(10).WithMinor(2).WithMinor2(159).WithMinor3(1)},
		"Apache": {Name: "Apache"},
		// The version-changes case.
		"my_fake_software 1.1.0": {Name: "my_fake_software", Version: Version{}.WithMajor(1).WithMinor(1).WithMinor2(0)},
		"":                       {Name: ""},
		"OpenSSH_9.6p1 Ubuntu-3ubuntu13": {Name: "OpenSSH",
			Version: Version{}.WithMajor(9).WithMinor(6).WithAddl("p1")},
		"Android A/1/Google/Pixel":  {Name: "Android (Google Pixel)", Version: Version{}.WithMajor(1)},
		"x/99999999999999999999999": {Name: "x", Version: Version{}.WithMajor(^uint64(0))},
	} {
		want.Unparsed = in
		if got := Parse(in); got != want {
			t.Errorf("Parse(%q)\n got  %+v\n want %+v", in, got, want)
		}
	}
}

func TestCmp(t *testing.T) {
	v := Version{}
	for _, c := range []struct {
		a, b Version
		want int
	}{
		{v, v, 0},
		{v.WithMajor(1), v, 1},
		{v, v.WithMajor(0), -1},
		{v.WithMajor(1).WithMinor(2), v.WithMajor(1).WithMinor(10), -1},
		{v.WithMajor(2), v.WithMajor(1).WithMinor(10), 1},
		{v.WithMajor(1).WithMinor3(5), v.WithMajor(1).WithMinor2(0), -1},
		{v.WithMajor(1).WithAddl("b"), v.WithMajor(1).WithAddl("a"), 1},
		{v.WithMajor(1).WithAddl(""), v.WithMajor(1), 1},
		{v.WithMajor(1).WithMinor(0).WithAddl("rc1"), v.WithMajor(1).WithMinor(0).WithAddl("rc1"), 0},
	} {
		if got := Cmp(c.a, c.b); got != c.want {
			t.Errorf("Cmp(%v, %v) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := Cmp(c.b, c.a); got != -c.want {
			t.Errorf("Cmp(%v, %v) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}

func TestVersionString(t *testing.T) {
	v := Version{}
	for want, ver := range map[string]Version{
		"0":             v,
		"1.0.0":         v.WithMajor(1).WithMinor(0).WithMinor2(0),
		"2.6":           v.WithMajor(2).WithMinor(6),
		"10.2.159.1":    v.WithMajor(10).WithMinor(2).WithMinor2(159).WithMinor3(1),
		"0.5-beta":      v.WithMinor(5).WithAddl("beta"),
		"7.15.1-i486-x": v.WithMajor(7).WithMinor(15).WithMinor2(1).WithAddl("i486-x"),
	} {
		if got := ver.String(); got != want {
			t.Errorf("%+v: %q, want %q", ver, got, want)
		}
	}
}
