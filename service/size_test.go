package service

import (
	"testing"
	"unsafe"
)

// TestFactsSize keeps Facts small: it is embedded in every flow.
func TestFactsSize(t *testing.T) {
	if n := unsafe.Sizeof(Facts{}); n > 48 {
		t.Errorf("Facts is %d bytes, want at most 48", n)
	}
}
