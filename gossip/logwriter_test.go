package gossip

import (
	"bytes"
	"encoding/json"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestParseMemberlistLine(t *testing.T) {
	tests := map[string]struct {
		line  string
		level zerolog.Level
		text  string
	}{
		"debug":                {"[DEBUG] memberlist: Stream connection from=1.2.3.4:5\n", zerolog.DebugLevel, "Stream connection from=1.2.3.4:5"},
		"info":                 {"[INFO] memberlist: Marking n1 as failed", zerolog.DebugLevel, "Marking n1 as failed"},
		"warn":                 {"[WARN] memberlist: Refuting a dead message (from: n2)", zerolog.WarnLevel, "Refuting a dead message (from: n2)"},
		"err":                  {"[ERR] memberlist: Failed to send ping", zerolog.WarnLevel, "Failed to send ping"},
		"with timestamp flags": {"2024/01/01 00:00:00 [WARN] memberlist: x", zerolog.WarnLevel, "x"},
		"untagged err":         {"Err: Could not set the deadline: x", zerolog.WarnLevel, "Err: Could not set the deadline: x"},
		"untagged":             {"something else", zerolog.DebugLevel, "something else"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			level, text := parseMemberlistLine(tc.line)
			if level != tc.level || text != tc.text {
				t.Fatalf("got %v %q, want %v %q", level, text, tc.level, tc.text)
			}
		})
	}
}

func TestLogWriterRoutesAndRateLimits(t *testing.T) {
	var buf bytes.Buffer
	zl := zerolog.New(&buf).Level(zerolog.DebugLevel)
	ml := log.New(&logWriter{log: zl, limiter: newRateLimiter(time.Hour, 16)}, "", 0)
	ml.Printf("[DEBUG] memberlist: hello %d", 1)
	ml.Printf("[ERR] memberlist: Failed to send gossip to 10.0.0.1:7946: boom")
	ml.Printf("[ERR] memberlist: Failed to send gossip to 10.0.0.2:7946: boom") // same key: demoted
	var levels []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("bad log line %q: %v", line, err)
		}
		if rec["message"] != "memberlist" {
			t.Fatalf("message = %v, want constant \"memberlist\"", rec["message"])
		}
		levels = append(levels, rec["level"].(string))
	}
	if strings.Join(levels, ",") != "debug,warn,debug" {
		t.Fatalf("levels = %v, want debug,warn,debug", levels)
	}
}
