package gossip

import "errors"

// Sentinel errors. Returned errors wrap them with context; test with errors.Is.
var (
	// ErrDuplicateName is sent on Fatal when another live node already uses
	// this node's name (this node being the newer of the two).
	ErrDuplicateName = errors.New("gossip: duplicate node name")
	// ErrMetaTooLarge is returned when encoded metadata exceeds
	// memberlist.MetaMaxSize (512 bytes).
	ErrMetaTooLarge = errors.New("gossip: metadata too large")
	// ErrRefused marks a peer refused because its protocol version or ring
	// configuration differs from ours, or its metadata does not decode.
	ErrRefused = errors.New("gossip: peer refused")
	// ErrBadMeta is returned by DecodeMeta for malformed metadata.
	ErrBadMeta = errors.New("gossip: malformed metadata")
	// ErrInvalidConfig is returned by Config.Validate.
	ErrInvalidConfig = errors.New("gossip: invalid config")
	// ErrClosed is returned by operations on a closed Gossip.
	ErrClosed = errors.New("gossip: closed")
	// ErrNoSeeds is returned by Join when given no address.
	ErrNoSeeds = errors.New("gossip: no seeds")
	// ErrBadKey is returned for a key that is not base64 of 16, 24 or 32
	// bytes, or a key file without a key.
	ErrBadKey = errors.New("gossip: bad key")
	// ErrKeyOp is returned when a keyring change is refused on a node.
	ErrKeyOp = errors.New("gossip: key operation refused")
	// ErrNoEncryption is returned by key operations on a node started
	// without keys (encryption cannot be turned on at run time).
	ErrNoEncryption = errors.New("gossip: encryption is not enabled")
)
