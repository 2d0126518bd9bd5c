package gossip

import (
	"strings"
	"sync/atomic"
)

// This file counts what memberlist rejects for security reasons. memberlist
// (v0.7.0) discards a packet or stream with another label, or one that no
// installed key decrypts (or that is not encrypted while we are), and only
// logs it; the log writer classifies those lines here.

// rejectKind is why memberlist discarded a message.
type rejectKind uint8

const (
	rejectNone  rejectKind = iota
	rejectKey              // not decryptable with our keys, or not encrypted
	rejectLabel            // another cluster name (memberlist label)
)

// keyRejectLines are memberlist's reasons for a message it cannot decrypt
// or that is not encrypted, as they appear after "failed to receive: " (a
// stream) or "Decrypt packet failed: " (a packet).
var keyRejectLines = []string{
	"no installed keys could decrypt",
	"encryption is configured but remote state is not encrypted",
	"remote state is encrypted and encryption is not configured",
	"unsupported encryption version",
	"payload is too small to decrypt",
	"cannot decrypt empty payload",
}

// classifyRejection maps a memberlist log line (without its level tag and
// "memberlist: " prefix) to a rejection kind.
func classifyRejection(text string) rejectKind {
	switch {
	case strings.HasPrefix(text, "discarding packet with unacceptable label"),
		strings.HasPrefix(text, "discarding stream with unacceptable label"),
		strings.HasPrefix(text, "failed to receive and remove the stream label header"),
		strings.HasPrefix(text, "unexpected double packet label header"),
		strings.HasPrefix(text, "unexpected double stream label header"):
		return rejectLabel
	case strings.HasPrefix(text, "Decrypt packet failed"):
		return rejectKey
	case strings.HasPrefix(text, "failed to receive: "):
		for _, s := range keyRejectLines {
			if strings.Contains(text, s) {
				return rejectKey
			}
		}
	}
	return rejectNone
}

// rejections counts rejected messages by kind. Safe for concurrent use.
type rejections struct {
	key, label atomic.Uint64
}

func (r *rejections) count(k rejectKind) {
	switch k {
	case rejectKey:
		r.key.Add(1)
	case rejectLabel:
		r.label.Add(1)
	}
}

// SecurityStats describes this node's gossip security and what it rejected.
type SecurityStats struct {
	// Encrypted says gossip is encrypted (a key was configured).
	Encrypted bool `json:"encrypted"`
	// ClusterName is memberlist's label. Without encryption it only keeps
	// clusters that share a network apart by mistake: anyone can send it.
	ClusterName string `json:"cluster_name,omitempty"`
	// Keys are the key fingerprints, primary first.
	Keys []string `json:"keys,omitempty"`
	// RejectedKey counts messages discarded because no installed key
	// decrypts them or they were not encrypted; RejectedLabel those with
	// another cluster name.
	RejectedKey   uint64 `json:"rejected_key"`
	RejectedLabel uint64 `json:"rejected_label"`
	// Refused counts peers refused for incompatible metadata (protocol or
	// ring configuration).
	Refused uint64 `json:"refused"`
	// KeyRequestsDropped counts keyring requests that overflowed the queue.
	KeyRequestsDropped uint64 `json:"key_requests_dropped,omitempty"`
}

// Security returns this node's gossip security settings and counters.
func (g *Gossip) Security() SecurityStats {
	return SecurityStats{
		Encrypted:          g.keyring != nil,
		ClusterName:        g.cfg.ClusterName,
		Keys:               g.Keys(),
		RejectedKey:        g.rejected.key.Load(),
		RejectedLabel:      g.rejected.label.Load(),
		Refused:            g.d.refused.Load(),
		KeyRequestsDropped: g.d.keyReqDropped.Load(),
	}
}
