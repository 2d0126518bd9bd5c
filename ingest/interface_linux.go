//go:build linux

package ingest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/google/gopacket/layers"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"shoal/packet"
)

// Layout of a TPACKET_V3 ring (linux/if_packet.h), in host byte order.
const (
	blockStatusOff = 8  // tpacket_block_desc.hdr.bh1.block_status
	blockNumOff    = 12 // .num_pkts
	blockFirstOff  = 16 // .offset_to_first_pkt
	blockHdrLen    = 48 // sizeof(struct tpacket_block_desc)

	pktNextOff    = 0  // tpacket3_hdr.tp_next_offset
	pktSecOff     = 4  // .tp_sec
	pktNsecOff    = 8  // .tp_nsec
	pktSnaplenOff = 12 // .tp_snaplen
	pktLenOff     = 16 // .tp_len
	pktMacOff     = 24 // .tp_mac (u16)
	pktHdrLen     = 48 // TPACKET_ALIGN(sizeof(struct tpacket3_hdr)): sockaddr_ll follows
	sllProtoOff   = pktHdrLen + 2
	sllTypeOff    = pktHdrLen + 10 // sockaddr_ll.sll_pkttype
	sllEnd        = pktHdrLen + 20

	ringFrameSize = 2048 // TPACKET_V3 ignores frames but wants a consistent count
)

// Interface is a live capture on one network interface through an AF_PACKET
// socket and a TPACKET_V3 ring shared with the kernel: packets are decoded
// where the kernel wrote them, with no copy and no allocation per packet, and
// timestamped by the kernel. No cgo and no libpcap.
//
// An Interface is run once and is not safe for concurrent use, except
// Dropped, which may be called while Run runs. Close it after Run returns.
type Interface struct {
	name     string
	index    int
	link     layers.LinkType
	cooked   bool // SOCK_DGRAM: the kernel strips the link header
	loopback bool
	cfg      InterfaceConfig
	log      zerolog.Logger
	dec      *packet.Decoder

	fd        int // -1 once closed
	ring      []byte
	blockSize int
	blocks    int
	cur       int // next block to read
	skipOut   bool
	pollFds   [1]unix.PollFd
	pollTS    unix.Timespec
	down      bool // the last socket error said the interface went down
	used      bool
	running   atomic.Bool
	dropped   atomic.Uint64
}

var _ Source = (*Interface)(nil)

// OpenInterface opens a live capture on the named interface, in the network
// namespace of the calling thread. Packets are buffered in the ring from
// then on, so none are lost between OpenInterface and Run (until the ring is
// full). Ethernet and loopback interfaces are captured with their Ethernet
// header (loopback frames carry zero MAC addresses); other interfaces (tun,
// wireguard, ...) in cooked mode and decoded as raw IP. VLAN tags the kernel
// strips on receive are not put back. An interface that is down can be
// opened: packets flow once it comes up.
//
// Errors name the interface. An unknown interface gives an error wrapping
// ErrNoInterface; no permission (live capture needs root or CAP_NET_RAW)
// gives one wrapping ErrCapture and os.ErrPermission; an invalid cfg one
// wrapping ErrBadConfig.
func OpenInterface(name string, cfg InterfaceConfig) (*Interface, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w (interface %q)", err, name)
	}
	cfg = cfg.withDefaults()
	if name == "" || len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("%w: %q: interface names have 1 to %d bytes", ErrNoInterface, name, unix.IFNAMSIZ-1)
	}
	// Protocol 0: the socket receives nothing until bound below, after the
	// ring exists.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, socketError(name, err)
	}
	iface := &Interface{name: name, cfg: cfg, log: cfg.Logger, fd: fd}
	if err := iface.open(); err != nil {
		_ = iface.Close()
		return nil, err
	}
	return iface, nil
}

// socketError explains a failed socket(2).
func socketError(name string, err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: interface %s: open packet socket: %w (live capture needs root or CAP_NET_RAW)",
			ErrCapture, name, err)
	case errors.Is(err, unix.EAFNOSUPPORT):
		return fmt.Errorf("%w: interface %s: open packet socket: %w (kernel without AF_PACKET)", ErrCapture, name, err)
	default:
		return fmt.Errorf("%w: interface %s: open packet socket: %w", ErrCapture, name, err)
	}
}

// open finds the interface, sets up the ring and binds the socket.
func (i *Interface) open() error {
	index, err := i.lookup()
	if err != nil {
		return err
	}
	i.index = index
	ifr, _ := unix.NewIfreq(i.name) // the name was checked
	if err := unix.IoctlIfreq(i.fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return i.ifaceError("read hardware type", err)
	}
	switch hw := ifr.Uint16(); hw { // sa_family of ifr_hwaddr
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		i.link = layers.LinkTypeEthernet
		i.loopback = hw == unix.ARPHRD_LOOPBACK
	default:
		// No Ethernet header to decode: let the kernel strip whatever link
		// header there is and decode the IP packet.
		_ = unix.Close(i.fd)
		i.fd = -1
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return socketError(i.name, err)
		}
		i.fd, i.cooked, i.link = fd, true, layers.LinkTypeRaw
	}
	i.skipOut = i.cfg.IgnoreOutgoing || i.loopback
	if i.dec, err = packet.NewDecoder(i.link); err != nil {
		return fmt.Errorf("ingest: interface %s: %w", i.name, err)
	}
	if err := unix.SetsockoptInt(i.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return i.ifaceError("select TPACKET_V3 (kernel 3.2 or later)", err)
	}
	i.blockSize = i.cfg.BlockSize
	i.blocks = (i.cfg.RingSize + i.blockSize - 1) / i.blockSize
	req := unix.TpacketReq3{
		Block_size:     uint32(i.blockSize),
		Block_nr:       uint32(i.blocks),
		Frame_size:     ringFrameSize,
		Frame_nr:       uint32(i.blockSize / ringFrameSize * i.blocks),
		Retire_blk_tov: uint32(millis(i.cfg.BlockTimeout)),
	}
	if err := unix.SetsockoptTpacketReq3(i.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return i.ifaceError(fmt.Sprintf("set up a ring of %d blocks of %d bytes", i.blocks, i.blockSize), err)
	}
	ring, err := unix.Mmap(i.fd, 0, i.blockSize*i.blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return i.ifaceError("map the ring", err)
	}
	i.ring = ring
	if i.cfg.Promiscuous {
		mreq := unix.PacketMreq{Ifindex: int32(index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(i.fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return i.ifaceError("enter promiscuous mode", err)
		}
	}
	if err := unix.Bind(i.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: index}); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("%w: %s: removed while opening", ErrNoInterface, i.name)
		}
		return i.ifaceError("bind", err)
	}
	i.pollFds[0] = unix.PollFd{Fd: int32(i.fd), Events: unix.POLLIN}
	i.pollTS = unix.NsecToTimespec(millis(i.cfg.PollTimeout) * int64(time.Millisecond))
	return nil
}

// lookup returns the interface's index in the socket's network namespace.
func (i *Interface) lookup() (int, error) {
	ifr, err := unix.NewIfreq(i.name)
	if err != nil {
		return 0, fmt.Errorf("%w: %q: %w", ErrNoInterface, i.name, err)
	}
	if err := unix.IoctlIfreq(i.fd, unix.SIOCGIFINDEX, ifr); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return 0, fmt.Errorf("%w: %s", ErrNoInterface, i.name)
		}
		return 0, i.ifaceError("look up", err)
	}
	return int(ifr.Uint32()), nil
}

// ifaceError wraps a system error from step into ErrCapture.
func (i *Interface) ifaceError(step string, err error) error {
	return fmt.Errorf("%w: interface %s: %s: %w", ErrCapture, i.name, step, err)
}

// htons converts a 16-bit value to network byte order, as sockaddr_ll wants.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// Name returns the interface name given to OpenInterface.
func (i *Interface) Name() string { return i.name }

// LinkType returns the link type packets are decoded as: Ethernet, or raw IP
// for interfaces captured in cooked mode.
func (i *Interface) LinkType() layers.LinkType { return i.link }

// Dropped returns how many packets the kernel has dropped so far because the
// ring was full. It is safe to call while Run runs, but not concurrently
// with Close.
func (i *Interface) Dropped() uint64 {
	if i.fd >= 0 {
		_ = i.readDrops()
	}
	return i.dropped.Load()
}

// readDrops adds the kernel's drop counter, which reading resets, to
// i.dropped.
func (i *Interface) readDrops() error {
	st, err := unix.GetsockoptTpacketStatsV3(i.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return i.ifaceError("read statistics", err)
	}
	i.dropped.Add(uint64(st.Drops))
	return nil
}

// Close releases the ring and the socket, which ends promiscuous mode. It is
// safe to call more than once, but not while Run runs: cancel Run's context
// and wait for it to return first.
func (i *Interface) Close() error {
	if i.running.Load() {
		return fmt.Errorf("ingest: interface %s: close while running", i.name)
	}
	if i.fd < 0 {
		return nil
	}
	var errs []error
	if i.ring != nil {
		errs = append(errs, unix.Munmap(i.ring))
		i.ring = nil
	}
	errs = append(errs, unix.Close(i.fd))
	i.fd = -1
	return errors.Join(errs...)
}

// Run captures until ctx is done, the interface is removed or the socket
// fails, calling fn for every decoded packet in arrival order. The
// *Packet, and its Payload, which points into the ring, are valid only
// during the call. Timestamps are the kernel's; WireLen is the frame's length
// on the wire. Malformed
// frames, frames without IP and fragments are counted and skipped; packets
// the kernel dropped are counted in Stats.Dropped. When ctx ends the run the
// error is ctx.Err(), after at most PollTimeout. A removed interface gives an
// error wrapping ErrNoInterface, a socket error one wrapping ErrCapture. An
// interface that goes down is waited for (with a warning in the log).
func (i *Interface) Run(ctx context.Context, fn func(*packet.Packet)) (st Stats, err error) {
	if i.used {
		return st, fmt.Errorf("%w: interface %s", ErrUsed, i.name)
	}
	i.used = true
	if i.fd < 0 {
		return st, fmt.Errorf("ingest: interface %s: %w", i.name, os.ErrClosed)
	}
	i.running.Store(true)
	defer i.running.Store(false)
	defer func() {
		if derr := i.readDrops(); derr != nil && err == nil {
			err = derr
		}
		st.Dropped = i.dropped.Load()
	}()
	done := ctx.Done()
	var p packet.Packet
	for {
		select {
		case <-done:
			return st, ctx.Err()
		default:
		}
		block := i.ring[i.cur*i.blockSize : (i.cur+1)*i.blockSize]
		status := (*uint32)(unsafe.Pointer(&block[blockStatusOff]))
		if atomic.LoadUint32(status)&unix.TP_STATUS_USER == 0 {
			if err := i.wait(); err != nil {
				return st, err
			}
			continue
		}
		berr := i.readBlock(block, done, &st, &p, fn)
		atomic.StoreUint32(status, unix.TP_STATUS_KERNEL) // hand the block back
		i.cur = (i.cur + 1) % i.blocks
		if berr != nil {
			return st, berr
		}
		if i.down {
			i.markUp()
		}
		if err := i.readDrops(); err != nil {
			return st, err
		}
	}
}

// readBlock delivers the packets of one block the kernel handed over. It
// stops early, returning nil, when done is closed; Run then sees it.
func (i *Interface) readBlock(block []byte, done <-chan struct{}, st *Stats, p *packet.Packet,
	fn func(*packet.Packet)) error {
	num := binary.NativeEndian.Uint32(block[blockNumOff:])
	off := int(binary.NativeEndian.Uint32(block[blockFirstOff:]))
	for k := uint32(0); k < num; k++ {
		select {
		case <-done:
			return nil
		default:
		}
		if off < blockHdrLen || off > len(block)-sllEnd {
			return i.corrupt(off)
		}
		h := block[off:]
		next := int(binary.NativeEndian.Uint32(h[pktNextOff:]))
		if !i.skipOut || h[sllTypeOff] != unix.PACKET_OUTGOING {
			mac := int(binary.NativeEndian.Uint16(h[pktMacOff:]))
			snap := int(binary.NativeEndian.Uint32(h[pktSnaplenOff:]))
			if mac < sllEnd || mac+snap > len(h) {
				return i.corrupt(off)
			}
			wire := int(binary.NativeEndian.Uint32(h[pktLenOff:]))
			ts := time.Unix(int64(binary.NativeEndian.Uint32(h[pktSecOff:])),
				int64(binary.NativeEndian.Uint32(h[pktNsecOff:])))
			st.Packets++
			st.Bytes += uint64(wire)
			if i.cooked && !cookedIP(binary.BigEndian.Uint16(h[sllProtoOff:])) {
				st.NotIP++
			} else if st.count(i.dec.Decode(h[mac:mac+min(snap, i.cfg.Snaplen)], ts, p)) {
				p.WireLen = wire
				st.Delivered++
				fn(p)
			}
		}
		if next == 0 {
			break
		}
		off += next
	}
	return nil
}

// cookedIP reports whether a cooked frame's protocol is IPv4 or IPv6.
func cookedIP(proto uint16) bool {
	return proto == unix.ETH_P_IP || proto == unix.ETH_P_IPV6
}

// corrupt reports a ring block the kernel should never write.
func (i *Interface) corrupt(off int) error {
	return fmt.Errorf("%w: interface %s: ring block %d: packet header at offset %d out of bounds",
		ErrCapture, i.name, i.cur, off)
}

// wait polls the socket for up to PollTimeout. It returns nil when a block
// may be ready, on timeout and when the interface went down; an error when
// the interface was removed or the socket failed.
func (i *Interface) wait() error {
	i.pollFds[0].Revents = 0
	n, err := unix.Ppoll(i.pollFds[:], &i.pollTS, nil)
	switch {
	case errors.Is(err, unix.EINTR):
		return nil
	case err != nil:
		return i.ifaceError("poll", err)
	case n > 0 && i.pollFds[0].Revents&(unix.POLLERR|unix.POLLNVAL) != 0:
		return i.socketFailed()
	case n == 0 && i.down:
		return i.checkDown()
	}
	return nil
}

// socketFailed reads and clears the socket error behind POLLERR.
func (i *Interface) socketFailed() error {
	code, err := unix.GetsockoptInt(i.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	switch {
	case err != nil:
		return i.ifaceError("read socket error", err)
	case code == 0:
		return nil
	case unix.Errno(code) == unix.ENETDOWN:
		// The interface went down or is being removed; the kernel resumes
		// the capture when it comes back up.
		if !i.down {
			i.log.Warn().Str("interface", i.name).Msg("capture interface down")
		}
		i.down = true
		return i.checkDown()
	default:
		return i.ifaceError("socket error", unix.Errno(code))
	}
}

// checkDown looks at an interface that went down: an error if it is gone
// (or moved to another network namespace), nil while it is down or once it
// is up again. It follows the interface by index, through renames: only the
// index lookup decides that it is gone, since a rename between the name
// lookup and the flags lookup makes the old name fail too.
func (i *Interface) checkDown() error {
	removed := fmt.Errorf("%w: %s: removed during the capture", ErrNoInterface, i.name)
	for range 3 {
		ifr, _ := unix.NewIfreq("")
		ifr.SetUint32(uint32(i.index))
		if err := unix.IoctlIfreq(i.fd, unix.SIOCGIFNAME, ifr); err != nil {
			if errors.Is(err, unix.ENODEV) {
				return removed
			}
			return i.ifaceError("look up", err)
		}
		flags, err := unix.NewIfreq(ifr.Name())
		if err != nil {
			return i.ifaceError("look up", err)
		}
		if err := unix.IoctlIfreq(i.fd, unix.SIOCGIFFLAGS, flags); err != nil {
			if errors.Is(err, unix.ENODEV) {
				continue // renamed (or removed) since the name lookup: look again
			}
			return i.ifaceError("read flags", err)
		}
		if flags.Uint16()&unix.IFF_UP != 0 {
			i.markUp()
		}
		return nil
	}
	return nil // renamed three times in a row: still there, still down; looked at again at the next poll
}

// markUp notes that the interface is back up.
func (i *Interface) markUp() {
	i.down = false
	i.log.Info().Str("interface", i.name).Msg("capture interface up")
}
