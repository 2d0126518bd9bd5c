package flow

// UID is a connection's (or an IP tunnel's) unique identifier in Zeek's
// format: 96 bits, printed as "C" followed by the base-62 digits of its
// high 32 and low 64 bits (Zeek's UID::Base62 with bits_per_uid 96). Values
// come from a Tracker's seed and the connection's number, so they are
// unique within a Tracker and, with independent seeds, across Trackers.
// The zero UID means "none".
type UID struct {
	Hi uint32
	Lo uint64
}

// base62Digits are Zeek's digits for base 62 (util::uitoa_n).
const base62Digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// IsZero reports whether u is the zero UID.
func (u UID) IsZero() bool { return u == UID{} }

// String returns the uid as conn.log prints it, e.g. "CHhAvVGS1DHFjwGM9";
// "" for the zero UID.
func (u UID) String() string {
	if u.IsZero() {
		return ""
	}
	var b [24]byte
	return string(u.AppendTo(b[:0]))
}

// AppendTo appends the uid's text to b (nothing for the zero UID) and
// returns the extended slice.
func (u UID) AppendTo(b []byte) []byte {
	if u.IsZero() {
		return b
	}
	b = append(b, 'C')
	b = appendBase62(b, uint64(u.Hi))
	return appendBase62(b, u.Lo)
}

func appendBase62(b []byte, v uint64) []byte {
	var tmp [11]byte // 62^11 > 2^64
	i := len(tmp)
	for {
		i--
		tmp[i] = base62Digits[v%62]
		v /= 62
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// mix64 is SplitMix64's finalizer: a bijection on 64-bit values that
// spreads every input bit over the output.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// makeUID derives the uid of the n-th connection of a Tracker with the given
// seed. Distinct n give distinct low words (mix64 of distinct values).
func makeUID(seed, n uint64) UID {
	x := seed + n*0x9e3779b97f4a7c15
	lo := mix64(x)
	hi := uint32(mix64(x^0xd6e8feb86659fd93) >> 32)
	if lo == 0 && hi == 0 {
		hi = 1
	}
	return UID{Hi: hi, Lo: lo}
}
