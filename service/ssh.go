package service

import "bytes"

// SSH walker phases.
const (
	sshBanner uint8 = iota // skipping the rest of the version line
	sshLen                 // collecting the 4-byte packet length
	sshToType              // skipping the bytes before the message type
	sshType                // the next byte is the message type
	sshSkip                // skipping the rest of the packet
	sshDead                // out of sync or over budget
)

// SSH message types that make Zeek confirm (ssh-analyzer.pac proc_newkeys).
const (
	sshMsgNewKeys     = 21 // SSH2 SSH_MSG_NEWKEYS
	sshCmsgSessionKey = 3  // SSH1 SSH_CMSG_SESSION_KEY
)

// maxSSHPacket bounds a cleartext SSH packet length (OpenSSH: 256 KiB).
const maxSSHPacket = 256 * 1024

// maxSSHBanner bounds the version line.
const maxSSHBanner = 255

// sshWalk walks one direction's SSH binary packets (before encryption starts
// there is no MAC, so packet boundaries follow from the length fields).
type sshWalk struct {
	phase uint8
	n     uint8  // sshLen: bytes collected; sshToType: bytes left to skip
	pkts  uint8  // packets walked
	acc   uint32 // sshLen: the length; sshType/sshSkip: bytes after the type byte
}

// sshTCP runs the SSH check on one direction's in-order data. Zeek's SSH
// analyzer confirms at the first SSH_MSG_NEWKEYS (SSH1: the client's
// SSH_CMSG_SESSION_KEY), after the version exchange and key exchange; the
// signature part (dpd_ssh_client/server) wants "SSH-" at the start of both
// directions.
func (d *Detector) sshTCP(r *result, i int, off uint32, data []byte) {
	w := &d.ssh[i]
	if off == 0 {
		if !hasPrefixFold(data, "ssh-") || len(data) < 4 {
			d.active &^= SSH.bit()
			return
		}
		if i == 0 {
			d.flags |= fSSHOrig
		} else {
			d.flags |= fSSHResp
		}
		if len(data) >= 8 && data[4] == '1' && data[5] == '.' && string(data[4:8]) != "1.99" {
			d.flags |= fSSH1
		}
		w.phase, w.acc = sshBanner, 0
	}
	if w.phase == sshDead {
		if d.ssh[1-i].phase == sshDead {
			d.active &^= SSH.bit()
		}
		return
	}
	if d.walkSSH(w, i == 0, data) {
		if d.flags&(fSSHOrig|fSSHResp) == fSSHOrig|fSSHResp {
			d.confirm(r, SSH, false)
		} else {
			d.active &^= SSH.bit()
		}
	}
}

// walkSSH advances the walker over p and reports whether a message that
// confirms SSH was seen.
func (d *Detector) walkSSH(w *sshWalk, fromOrig bool, p []byte) bool {
	for len(p) > 0 {
		switch w.phase {
		case sshBanner:
			j := bytes.IndexByte(p, '\n')
			if j < 0 {
				w.acc += uint32(min(len(p), maxSSHBanner+1))
				if w.acc > maxSSHBanner {
					w.phase = sshDead
				}
				return false
			}
			p = p[j+1:]
			w.phase, w.n, w.acc = sshLen, 0, 0
		case sshLen:
			w.acc = w.acc<<8 | uint32(p[0])
			w.n++
			p = p[1:]
			if w.n < 4 {
				continue
			}
			l := w.acc
			if d.flags&fSSH1 != 0 {
				if l < 5 || l > maxSSHPacket {
					w.phase = sshDead
					return false
				}
				w.n = uint8(8 - l%8) // padding precedes the type
			} else {
				if l < 5 || l > maxSSHPacket {
					w.phase = sshDead
					return false
				}
				w.n = 1 // the padding-length byte precedes the type
			}
			w.phase = sshToType
		case sshToType:
			k := min(len(p), int(w.n))
			p = p[k:]
			w.n -= uint8(k)
			if w.n == 0 {
				w.phase = sshType
			}
		case sshType:
			t := p[0]
			p = p[1:]
			if d.flags&fSSH1 != 0 {
				if fromOrig && t == sshCmsgSessionKey {
					return true
				}
				w.acc-- // type, data and CRC follow the padding
			} else {
				if t == sshMsgNewKeys {
					return true
				}
				w.acc -= 2 // padding length and type
			}
			w.pkts++
			if w.pkts >= maxSSHPackets {
				w.phase = sshDead
				return false
			}
			w.phase = sshSkip
			if w.acc == 0 {
				w.phase, w.n = sshLen, 0
			}
		case sshSkip:
			k := min(uint32(len(p)), w.acc)
			p = p[k:]
			w.acc -= k
			if w.acc == 0 {
				w.phase, w.n = sshLen, 0
			}
		default:
			return false
		}
	}
	return false
}
