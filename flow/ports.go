package flow

// Zeek's likely_server_ports with the default scripts loaded: the ports that
// base/protocols/* and the tunnel decapsulators add with
// "redef likely_server_ports += { ports }" (zeek: scripts/base/protocols/*/main.zeek,
// scripts/base/packet-protocols/*). They only decide the direction of a
// connection whose first packet is not a pure SYN (TCP) or whose source port
// is a server port and destination port is not (UDP).
var (
	zeekTCPServerPorts = []uint16{
		21, 2811, // ftp
		22,      // ssh
		25, 587, // smtp
		53,                                        // dns
		79,                                        // finger
		80, 81, 631, 1080, 3128, 8000, 8080, 8888, // http (1080 is also socks)
		88,       // krb
		110,      // pop3
		135,      // dce-rpc
		139, 445, // smb
		143,       // imap
		389, 3268, // ldap
		443, 563, 585, 614, // ssl
		636, 989, 990, 992, 993, 995, 5223,
		502,        // modbus
		1434, 3306, // mysql
		1883,       // mqtt
		3389,       // rdp
		5222, 5269, // xmpp
		5432,                   // postgresql
		6379,                   // redis
		6666, 6667, 6668, 6669, // irc
		20000, // dnp3
	}
	zeekUDPServerPorts = []uint16{
		53, 137, 5353, 5355, // dns
		67,       // dhcp
		88,       // krb
		123,      // ntp
		161, 162, // snmp
		389,        // ldap (cldap)
		443,        // dtls, quic
		514,        // syslog
		547,        // dhcpv6
		1812,       // radius
		2123, 2152, // gtpv1
		3544,  // teredo
		4789,  // vxlan
		5060,  // sip
		5072,  // ayiya
		6081,  // geneve
		20000, // dnp3
	}
)

// DefaultTCPServerPorts returns a copy of the TCP ports Zeek treats as likely
// server ports when run with its default scripts.
func DefaultTCPServerPorts() []uint16 { return append([]uint16(nil), zeekTCPServerPorts...) }

// DefaultUDPServerPorts returns a copy of the UDP ports Zeek treats as likely
// server ports when run with its default scripts.
func DefaultUDPServerPorts() []uint16 { return append([]uint16(nil), zeekUDPServerPorts...) }

// portSet is a bitset of the 65536 ports.
type portSet [65536 / 64]uint64

func (s *portSet) add(ports []uint16) {
	for _, p := range ports {
		s[p/64] |= 1 << (p % 64)
	}
}

func (s *portSet) has(p uint16) bool { return s[p/64]&(1<<(p%64)) != 0 }
