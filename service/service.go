package service

import "strings"

// Service is an application protocol the Detector identifies. Its String is
// the name Zeek's known_services.log uses: the analyzer name in upper case.
type Service uint8

// The identified services, in the order Set.Names lists them.
const (
	HTTP Service = iota
	SSL
	SSH
	DNS
	FTP
	SMTP
	NTP
	NumServices // the number of services; not a Service
)

var serviceNames = [NumServices]string{
	HTTP: "HTTP", SSL: "SSL", SSH: "SSH", DNS: "DNS", FTP: "FTP", SMTP: "SMTP", NTP: "NTP",
}

// String returns Zeek's name for s ("HTTP", "SSL", ...), or "" for a value
// that is not a Service. The result is a constant: it does not allocate.
func (s Service) String() string {
	if s < NumServices {
		return serviceNames[s]
	}
	return ""
}

// ParseService returns the Service named name (Zeek's upper-case spelling,
// matched without regard to case), or false.
func ParseService(name string) (Service, bool) {
	for i, n := range serviceNames {
		if strings.EqualFold(n, name) {
			return Service(i), true
		}
	}
	return 0, false
}

// Set is a set of Services as a bit mask. The zero value is the empty set. It
// is a plain value: copy it freely.
type Set uint8

func (s Service) bit() Set { return Set(1) << s }

// Has reports whether svc is in s.
func (s Set) Has(svc Service) bool { return svc < NumServices && s&svc.bit() != 0 }

// Add returns s with svc added.
func (s Set) Add(svc Service) Set {
	if svc >= NumServices {
		return s
	}
	return s | svc.bit()
}

// Len returns the number of services in s.
func (s Set) Len() int {
	n := 0
	for v := s; v != 0; v &= v - 1 {
		n++
	}
	return n
}

// Names appends the Zeek names of the services in s to dst, in the order of
// the Service constants, and returns the extended slice. It allocates only if
// dst lacks capacity.
func (s Set) Names(dst []string) []string {
	for i := Service(0); i < NumServices; i++ {
		if s.Has(i) {
			dst = append(dst, serviceNames[i])
		}
	}
	return dst
}

// String returns the names joined by commas, as Zeek prints a set[string]
// ("HTTP,SSL"); "" for the empty set.
func (s Set) String() string {
	var b strings.Builder
	for i := Service(0); i < NumServices; i++ {
		if s.Has(i) {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(serviceNames[i])
		}
	}
	return b.String()
}

// Confirmation reports that a packet confirmed a service: Zeek's
// analyzer_confirmation for that protocol.
type Confirmation struct {
	Service Service
	// Deferred is set when Zeek confirms the protocol on an earlier packet
	// than this one: the originator's request, before the responder had
	// answered. The detector needs the answer to tell the protocol from noise
	// without looking at ports, so it reports the confirmation only now.
	// Zeek's known-services check at that earlier confirmation failed (the
	// responder was not active yet), so a caller reproducing Zeek must not
	// run the check here and relies on the check at connection removal
	// (Detector.Services), which then holds the service. Only NTP is
	// deferred.
	Deferred bool
}
