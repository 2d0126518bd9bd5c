package software

import (
	"strings"

	"shoal/service"
)

// Description is what Parse makes of a version string (Zeek's
// Software::Description).
type Description struct {
	Name     string
	Version  Version
	Unparsed string
}

// alternateNames is Software::alternate_names: names a piece of software
// exposes itself with, mapped to the one logged.
var alternateNames = map[string]string{"Flash Player": "Flash"}

func alternate(name string) string {
	if n, ok := alternateNames[name]; ok {
		return n
	}
	return name
}

var (
	reBrowser   = pattern(`^(Mozilla|Opera)/[0-9]+\.`)
	rePixel     = pattern(`A/[0-9.]*/Google/Pixel`)
	reSlash     = pattern(`/`)
	reBackslash = pattern(`\\x`)
	reVersion   = pattern(`([/\-_]|( [(v]+))?[0-9\-._, ]{2,}`)
	reJunkEnd   = pattern(`([/\-_]|( [(v]+))$`)
	reJunk      = pattern(`([/\-_]|( [(v]+))`)
	reParenAt0  = pattern(`^\(`)
	reParen     = pattern(`\(`)
	reSepAt0    = pattern(`^[/\-._v(]`)
	reNumSep    = pattern(`[\-._,\[({ ]`)
	reAddlParen = pattern(`^[[:blank:]]*\([a-zA-Z0-9\-._[:blank:]]*\)`)
	reParens    = pattern(`[()]`)
	reAddlSep   = pattern(`[\-._,;\[\](){} ]`)
)

// Parse splits a version string into a software name and version exactly as
// Zeek's Software::parse does (base/frameworks/software/main.zeek),
// including its treatment of browser user agents (parse_mozilla), Android
// Pixel strings, \x and %-escapes, and Software::alternate_names. It never
// fails: a string it cannot read gives the name "<parse error>" or an
// empty version, as in Zeek.
func Parse(unparsed string) Description {
	if reBrowser.in(unparsed) {
		return parseMozilla(unparsed)
	}
	name := "<parse error>"
	var v Version
	if rePixel.in(unparsed) {
		name = "Android (Google Pixel)"
		if vs, ok := at(reSlash.splitAll(unparsed), 2); ok {
			if strings.Contains(vs, ".") {
				v = Parse(vs).Version
			} else {
				v = Version{}.WithMajor(extractCount(vs))
			}
			return Description{Name: name, Version: v, Unparsed: unparsed}
		}
		return Description{Name: alternate(name), Version: v, Unparsed: unparsed}
	}
	clean := string(service.UnescapeURI([]byte(reBackslash.sub(unparsed, "%", true))))
	parts := reVersion.split(clean, true, 1)
	if p0, ok := at(parts, 0); ok {
		if reJunkEnd.in(p0) {
			p0 = strip(reJunk.sub(p0, "", false))
		}
		if reParenAt0.in(p0) {
			name = strip(reParen.sub(p0, "", false))
		} else {
			name = strip(p0)
		}
	}
	if len(parts) >= 2 {
		v = parseNumbers(parts)
	}
	return Description{Name: alternate(name), Version: v, Unparsed: unparsed}
}

// parseNumbers reads the version numbers from the part Parse split off and
// the additional string from the part after it.
func parseNumbers(parts []string) Version {
	var v Version
	sv := strip(parts[1])
	if reSepAt0.in(sv) {
		sv = strip(reSepAt0.sub(sv, "", false))
	}
	nums := reNumSep.split(sv, false, 3)
	if n4, ok := at(nums, 4); ok && n4 != "" {
		v = v.WithAddl(strip(n4)) // never: at most four pieces
	} else if p2, ok := at(parts, 2); ok && p2 != "" && p2 != ")" {
		if reAddlParen.in(p2) {
			v = v.WithAddl(reParens.split(p2, false, 2)[1])
		} else {
			vp := reAddlSep.split(p2, false, 3)
			switch {
			case len(vp) >= 1 && vp[0] != "":
				v = v.WithAddl(strip(vp[0]))
			case len(vp) >= 2 && vp[1] != "":
				v = v.WithAddl(strip(vp[1]))
			case len(vp) >= 3 && vp[2] != "":
				v = v.WithAddl(strip(vp[2]))
			default:
				v = v.WithAddl(strip(p2))
			}
		}
	}
	if n, ok := at(nums, 3); ok && n != "" {
		v = v.WithMinor3(extractCount(n))
	}
	if n, ok := at(nums, 2); ok && n != "" {
		v = v.WithMinor2(extractCount(n))
	}
	if n, ok := at(nums, 1); ok && n != "" {
		v = v.WithMinor(extractCount(n))
	}
	if n, ok := at(nums, 0); ok && n != "" {
		v = v.WithMajor(extractCount(n))
	}
	return v
}

var (
	reOperaEnd    = pattern(`Opera [0-9.]*$`)
	reMSIE        = pattern(` MSIE |Trident/`)
	reMSIEVersion = pattern(`MSIE [0-9]{1,2}\.*[0-9]*b?[0-9]*`)
	reEdge        = pattern(`Edge/`)
	reEdgeVersion = pattern(`Edge/[0-9.]*`)
	reSafari      = pattern(`Version/.*Safari/`)
	reVersionNum  = pattern(`Version/[0-9.]*`)
	reMobile      = pattern(` Mobile/?.* Safari`)
	reGecko       = pattern(`(Firefox|Netscape|Thunderbird)/[0-9.]*`)
	reChrome      = pattern(`Chrome/.*Safari/`)
	reChromeNum   = pattern(`Chrome/[0-9.]*`)
	reOperaAt0    = pattern(`^Opera/`)
	reOperaMobi   = pattern(`Opera M(ini|obi)/`)
	reOperaMName  = pattern(`Opera M(ini|obi)`)
	reOperaMini   = pattern(`Opera Mini/[0-9.]*`)
	reFlashPlayer = pattern(`Flash%20Player`)
	reSlashSpace  = pattern(`[/ ]`)
	reAIR         = pattern(`AdobeAIR/[0-9.]*`)
	reWebKit      = pattern(`AppleWebKit/[0-9.]*`)
	reJava        = pattern(` Java/[0-9]\.`)
	reJavaNum     = pattern(`Java/[0-9._]*`)
	tridents      = [...]struct {
		re    zre
		major uint64
	}{{pattern(`Trident/4\.0`), 8}, {pattern(`Trident/5\.0`), 9}, {pattern(`Trident/6\.0`), 10}, {pattern(`Trident/7\.0`), 11}}
)

// versionOf parses the first match of re in u, as parse_mozilla does with
// split_string_all(u, re)[1].
func versionOf(re zre, u string) (Version, bool) {
	if m, ok := at(re.splitAll(u), 1); ok {
		return Parse(m).Version, true
	}
	return Version{}, false
}

// parseMozilla is Software::parse_mozilla, for browser-like user agents.
func parseMozilla(u string) Description {
	name := "<unknown browser>"
	var v Version
	switch {
	case reOperaEnd.in(u):
		name = "Opera"
		v, _ = versionOf(reOperaEnd, u)
	case reMSIE.in(u):
		name = "MSIE"
		v = msieVersion(u)
	case reEdge.in(u):
		name = "Edge"
		v, _ = versionOf(reEdgeVersion, u)
	case reSafari.in(u):
		name = "Safari"
		if w, ok := versionOf(reVersionNum, u); ok {
			v = w
			if reMobile.in(u) {
				v = v.WithAddl("Mobile")
			}
		}
	case reGecko.in(u):
		if m, ok := at(reGecko.splitAll(u), 1); ok {
			d := Parse(m)
			name, v = d.Name, d.Version
		}
	case reChrome.in(u):
		name = "Chrome"
		v, _ = versionOf(reChromeNum, u)
	case reOperaAt0.in(u):
		name, v = operaVersion(u)
	case reFlashPlayer.in(u):
		name = "Flash"
		if m, ok := at(reSlashSpace.splitAll(u), 2); ok {
			v = Parse(m).Version
		}
	case reAIR.in(u):
		name = "AdobeAIR"
		v, _ = versionOf(reAIR, u)
	case reWebKit.in(u):
		name = "Unspecified WebKit"
		v, _ = versionOf(reWebKit, u)
	case reJava.in(u):
		name = "Java"
		v, _ = versionOf(reJavaNum, u)
	}
	return Description{Name: name, Version: v, Unparsed: u}
}

// msieVersion is parse_mozilla's MSIE branch: Trident tokens name IE 8 to
// 11 whatever MSIE version the string claims.
func msieVersion(u string) Version {
	for _, t := range tridents {
		if t.re.in(u) {
			return Version{}.WithMajor(t.major).WithMinor(0)
		}
	}
	v, _ := versionOf(reMSIEVersion, u)
	return v
}

// operaVersion is parse_mozilla's branch for "Opera/" user agents.
func operaVersion(u string) (string, Version) {
	if !reOperaMobi.in(u) {
		v, _ := versionOf(reVersionNum, u)
		return "Opera", v
	}
	name := "<unknown browser>"
	if m, ok := at(reOperaMName.splitAll(u), 1); ok {
		name = m
	}
	if v, ok := versionOf(reVersionNum, u); ok {
		return name, v
	}
	v, _ := versionOf(reOperaMini, u)
	return name, v
}
