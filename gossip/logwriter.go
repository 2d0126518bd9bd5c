package gossip

import (
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// logWriter adapts memberlist's *log.Logger output to zerolog. memberlist
// writes one line per call, prefixed "[DEBUG]", "[INFO]", "[WARN]" or "[ERR]".
// DEBUG and INFO go to debug level, WARN and ERR to warn level; a warning
// repeated within the rate-limit interval is demoted to debug. Safe for
// concurrent use (memberlist logs from many goroutines, sometimes while
// holding its locks, so this never blocks beyond the logger's own write).
//
// memberlist only logs the messages it discards for a wrong key or cluster
// label; Write counts them in rejected (when set) before any rate limiting.
type logWriter struct {
	log      zerolog.Logger
	limiter  *rateLimiter
	rejected *rejections
}

// Write logs p, which is not retained.
func (w *logWriter) Write(p []byte) (int, error) {
	level, text := parseMemberlistLine(string(p))
	if w.rejected != nil {
		w.rejected.count(classifyRejection(text))
	}
	if level == zerolog.WarnLevel {
		if ok, n := w.limiter.allow(limitKey(text), time.Now()); !ok {
			level = zerolog.DebugLevel
		} else if n > 0 {
			w.log.WithLevel(level).Str("line", text).Int("suppressed", n).Msg("memberlist")
			return len(p), nil
		}
	}
	w.log.WithLevel(level).Str("line", text).Msg("memberlist")
	return len(p), nil
}

// levelTags maps memberlist's level tags to zerolog levels.
var levelTags = []struct {
	tag   string
	level zerolog.Level
}{
	{"[DEBUG]", zerolog.DebugLevel},
	{"[INFO]", zerolog.DebugLevel},
	{"[WARN]", zerolog.WarnLevel},
	{"[ERR]", zerolog.WarnLevel},
	{"[ERROR]", zerolog.WarnLevel},
}

// parseMemberlistLine splits a memberlist log line into a level and its text
// without the level tag and the "memberlist: " prefix. Untagged lines are
// debug, except memberlist's few "Err: ..." lines, which are warnings.
func parseMemberlistLine(line string) (zerolog.Level, string) {
	line = strings.TrimRight(line, "\r\n")
	level := zerolog.DebugLevel
	tagged := false
	for _, t := range levelTags {
		if i := strings.Index(line, t.tag); i >= 0 {
			level, line, tagged = t.level, line[i+len(t.tag):], true
			break
		}
	}
	if !tagged && strings.HasPrefix(line, "Err") {
		level = zerolog.WarnLevel
	}
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "memberlist: ")
	return level, line
}

// limitKey groups repeated lines: the first 32 bytes, which hold the
// message but usually not the peer.
func limitKey(text string) string {
	if len(text) > 32 {
		return text[:32]
	}
	return text
}
