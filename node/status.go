package node

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

// WorkerStatus counts a worker's input and what it sent.
type WorkerStatus struct {
	Packets     uint64 `json:"packets"`
	Malformed   uint64 `json:"malformed"`
	NotIP       uint64 `json:"not_ip"`
	Established uint64 `json:"established"`
	HostsSent   uint64 `json:"hosts_sent"`
	CacheHits   uint64 `json:"cache_hits"`
	CacheSize   int    `json:"cache_size"`
	SendErrors  uint64 `json:"send_errors"`
	// Scan attempts seen, and sent after the worker's filter.
	Attempts     uint64 `json:"scan_attempts"`
	AttemptsSent uint64 `json:"scan_attempts_sent"`
	ServicesSent uint64 `json:"services_sent"`
	CertsSent    uint64 `json:"certs_sent"`
	Observations uint64 `json:"observations_sent"`
	// TLS 1.3 handshakes seen: their certificates are encrypted, so
	// known_certs cannot log them.
	TLS13       uint64 `json:"tls13_handshakes"`
	KernelDrops uint64 `json:"kernel_drops"`
	InputDone   bool   `json:"input_done"`
}

// DatanodeStatus counts a datanode's known-hosts decisions.
type DatanodeStatus struct {
	HostsSeen  uint64 `json:"hosts_seen"`
	HostsNew   uint64 `json:"hosts_new"`
	KnownHosts int    `json:"known_hosts"`
	LogErrors  uint64 `json:"log_errors"`
	Attempts   uint64 `json:"scan_attempts"`
	Scanners   int    `json:"scanners"`
	Notices    uint64 `json:"notices"`
	// New known services and certificates sent to a manager.
	ServicesNew uint64 `json:"services_new"`
	CertsNew    uint64 `json:"certs_new"`
	// SumStats observations received, keys held, outputs sent.
	Observations   uint64 `json:"observations"`
	SumStatsKeys   int    `json:"sumstats_keys"`
	SumStatsOutput uint64 `json:"sumstats_outputs"`
}

// ManagerStatus counts the records a manager wrote.
type ManagerStatus struct {
	Records map[string]uint64 `json:"records"` // log path -> rows written
	LogDir  string            `json:"log_dir"`
}
