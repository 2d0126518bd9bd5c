package node

import (
	"encoding/json"

	"shoal/route"
)

// Status is the JSON document served at GET /status. Field names are stable:
// testcluster and `node members` parse them.
type Status struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	BootID   string `json:"boot_id"`
	Gossip   string `json:"gossip"`
	Data     string `json:"data"`
	HTTP     string `json:"http,omitempty"`
	Uptime   string `json:"uptime"`
	Settings string `json:"settings_hash"`

	Members   []MemberStatus        `json:"members"`
	Rings     map[string]RingStatus `json:"rings"`
	Peers     []PeerStatus          `json:"peers"`
	Counters  Counters              `json:"counters"`
	Transport route.Stats           `json:"transport"` // every event-transport counter
	Failovers []FailoverStatus      `json:"failovers"`
	Memory    MemoryStatus          `json:"memory"`

	Worker   *WorkerStatus   `json:"worker,omitempty"`
	Datanode *DatanodeStatus `json:"datanode,omitempty"`
	Manager  *ManagerStatus  `json:"manager,omitempty"`

	Security *SecurityStatus `json:"security,omitempty"`
}

// MemoryStatus is the Go heap as runtime.ReadMemStats reports it; GET
// /status?gc=1 collects garbage first, for per-key memory figures.
type MemoryStatus struct {
	HeapAlloc uint64 `json:"heap_alloc"`
	HeapInuse uint64 `json:"heap_inuse"`
	Sys       uint64 `json:"sys"`
}

// MemberStatus is one gossip member as this node sees it.
type MemberStatus struct {
	Name             string `json:"name"`
	Role             string `json:"role"`
	State            string `json:"state"` // alive, suspect, dead or left
	Addr             string `json:"addr"`  // gossip host:port
	DataAddr         string `json:"data_addr"`
	BootID           string `json:"boot_id"`
	SettingsMismatch bool   `json:"settings_mismatch,omitempty"`
}

// RingStatus is one pool's ring.
type RingStatus struct {
	Version  uint64         `json:"version"`
	Checksum string         `json:"checksum"` // 16 hex digits
	Members  []string       `json:"members"`
	Owned    map[string]int `json:"owned"` // partitions owned by each member
}

// PeerStatus is the event transport's view of one peer.
type PeerStatus struct {
	Name      string `json:"name"`
	Pool      string `json:"pool"`
	Addr      string `json:"addr"`
	Connected bool   `json:"connected"`
	Suspect   bool   `json:"suspect"`
	Queued    int    `json:"queued"`
	Unacked   int    `json:"unacked"`
}

// Counters are the event transport's totals since start.
type Counters struct {
	Sent         uint64 `json:"sent"`
	Received     uint64 `json:"received"`
	Acknowledged uint64 `json:"acknowledged"`
	Dropped      uint64 `json:"dropped"`
	DroppedFull  uint64 `json:"dropped_queue_full"`
	Rerouted     uint64 `json:"rerouted"`
	NoMembers    uint64 `json:"no_members"`
	Batches      uint64 `json:"batches"`
	Writes       uint64 `json:"writes"`
	BadFrames    uint64 `json:"bad_frames"`
	UnknownTypes uint64 `json:"unknown_types"`
	BadEvents    uint64 `json:"bad_events"`
	Reconnects   uint64 `json:"reconnects"`
}

// FailoverStatus describes one peer lost by the event transport.
type FailoverStatus struct {
	Peer       string `json:"peer"`
	DetectedAt string `json:"detected_at"`            // RFC 3339 with nanoseconds
	FirstAckAt string `json:"first_ack_at,omitempty"` // first ack by a new owner for a moved partition
	Rerouted   int    `json:"rerouted"`
}

// WorkerStatus is a worker's section of the status: its input counters,
// its ring changes, and the counters of its modules and traffic path
// (Counters, flattened into the same JSON object: hosts_sent,
// established, ...).
type WorkerStatus struct {
	Packets     uint64 `json:"packets"`
	Malformed   uint64 `json:"malformed"`
	NotIP       uint64 `json:"not_ip"`
	SendErrors  uint64 `json:"send_errors"`
	KernelDrops uint64 `json:"kernel_drops"`
	InputDone   bool   `json:"input_done"`
	// RingChanges counts the datanode ring changes that moved partitions;
	// PartsMoved the partitions whose owner changed over them;
	// EntriesDropped the send-suppression entries dropped with them.
	RingChanges    uint64 `json:"ring_changes"`
	PartsMoved     uint64 `json:"partitions_moved"`
	EntriesDropped uint64 `json:"cache_entries_dropped"`

	Counters map[string]uint64 `json:"-"`
}

// DatanodeStatus is a datanode's section of the status: the counters of
// its modules' owner sides (hosts_seen, hosts_new, known_hosts, ...),
// flattened into one JSON object.
type DatanodeStatus struct {
	Counters map[string]uint64 `json:"-"`
}

// ManagerStatus counts the records a manager wrote, and its modules'
// counters (flattened).
type ManagerStatus struct {
	Records map[string]uint64 `json:"records"` // log path -> rows written
	LogDir  string            `json:"log_dir"`

	Counters map[string]uint64 `json:"-"`
}

// Counter returns the named module counter (0 if absent).
func (s *WorkerStatus) Counter(name string) uint64 { return s.Counters[name] }

// Counter returns the named module counter (0 if absent).
func (s *DatanodeStatus) Counter(name string) uint64 { return s.Counters[name] }

// Counter returns the named module counter (0 if absent).
func (s *ManagerStatus) Counter(name string) uint64 { return s.Counters[name] }

type (
	workerFixed   WorkerStatus
	datanodeFixed DatanodeStatus
	managerFixed  ManagerStatus
)

// MarshalJSON flattens Counters into the object.
func (s WorkerStatus) MarshalJSON() ([]byte, error) { return flatJSON(workerFixed(s), s.Counters) }

// UnmarshalJSON reads the fixed fields and every other number into
// Counters.
func (s *WorkerStatus) UnmarshalJSON(b []byte) error {
	return unflatJSON(b, (*workerFixed)(s), &s.Counters)
}

// MarshalJSON flattens Counters into the object.
func (s DatanodeStatus) MarshalJSON() ([]byte, error) { return flatJSON(datanodeFixed(s), s.Counters) }

// UnmarshalJSON reads every number into Counters.
func (s *DatanodeStatus) UnmarshalJSON(b []byte) error {
	return unflatJSON(b, (*datanodeFixed)(s), &s.Counters)
}

// MarshalJSON flattens Counters into the object.
func (s ManagerStatus) MarshalJSON() ([]byte, error) { return flatJSON(managerFixed(s), s.Counters) }

// UnmarshalJSON reads the fixed fields and every other number into
// Counters.
func (s *ManagerStatus) UnmarshalJSON(b []byte) error {
	return unflatJSON(b, (*managerFixed)(s), &s.Counters)
}

// flatJSON encodes fixed (a struct) with counters added as top-level keys;
// a counter never replaces a fixed field.
func flatJSON(fixed any, counters map[string]uint64) ([]byte, error) {
	b, err := json.Marshal(fixed)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range counters {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// unflatJSON decodes fixed from b and every other numeric key into
// counters.
func unflatJSON(b []byte, fixed any, counters *map[string]uint64) error {
	if err := json.Unmarshal(b, fixed); err != nil {
		return err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	fb, err := json.Marshal(fixed)
	if err != nil {
		return err
	}
	var known map[string]json.RawMessage
	if err := json.Unmarshal(fb, &known); err != nil {
		return err
	}
	for k, raw := range m {
		if _, ok := known[k]; ok {
			continue
		}
		var v uint64
		if json.Unmarshal(raw, &v) == nil {
			if *counters == nil {
				*counters = map[string]uint64{}
			}
			(*counters)[k] = v
		}
	}
	return nil
}
