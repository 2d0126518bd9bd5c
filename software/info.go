package software

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"shoal/zeeklog"
)

// Type is Zeek's Software::Type: what kind of software was found.
type Type uint8

// The software types Zeek's protocol scripts use, with Zeek's enum names.
const (
	Unknown           Type = iota // Software::UNKNOWN
	HTTPServer                    // HTTP::SERVER
	HTTPAppServer                 // HTTP::APPSERVER
	HTTPBrowser                   // HTTP::BROWSER
	HTTPBrowserPlugin             // HTTP::BROWSER_PLUGIN
	SSHServer                     // SSH::SERVER
	SSHClient                     // SSH::CLIENT
	FTPClient                     // FTP::CLIENT
	FTPServer                     // FTP::SERVER
	SMTPMailClient                // SMTP::MAIL_CLIENT
	SMTPMailServer                // SMTP::MAIL_SERVER
	SMTPWebmailServer             // SMTP::WEBMAIL_SERVER
	numTypes
)

var typeNames = [numTypes]string{
	Unknown: "Software::UNKNOWN", HTTPServer: "HTTP::SERVER", HTTPAppServer: "HTTP::APPSERVER",
	HTTPBrowser: "HTTP::BROWSER", HTTPBrowserPlugin: "HTTP::BROWSER_PLUGIN", SSHServer: "SSH::SERVER",
	SSHClient: "SSH::CLIENT", FTPClient: "FTP::CLIENT", FTPServer: "FTP::SERVER",
	SMTPMailClient: "SMTP::MAIL_CLIENT", SMTPMailServer: "SMTP::MAIL_SERVER", SMTPWebmailServer: "SMTP::WEBMAIL_SERVER",
}

// String returns Zeek's enum name ("HTTP::SERVER", ...).
func (t Type) String() string {
	if t < numTypes {
		return typeNames[t]
	}
	return "Software::UNKNOWN"
}

// Info is Zeek's Software::Info: one piece of software found on a host, as
// a worker sends it to the datanode that owns the host and as software.log
// records it. It is a plain value.
type Info struct {
	TS       time.Time  // network time of the detection
	Host     netip.Addr // the host running the software
	Port     uint16     // host_p: the server's port, when HasPort
	HasPort  bool
	Type     Type
	Name     string
	Version  Version
	Unparsed string // unparsed_version
	// ForceLog logs the software even when its version is already known
	// (and whatever the tracking mode).
	ForceLog bool
}

// VersionString is Zeek's software_fmt_unparsed_version: the unparsed
// version when there is one, the formatted version otherwise. It is what
// the owner remembers per name to tell new versions from known ones.
func (i *Info) VersionString() string {
	if i.Unparsed != "" {
		return i.Unparsed
	}
	return i.Version.String()
}

// LogFields are the columns of software.log, in order, with Zeek's types.
// The slice is shared: do not modify it.
var LogFields = []zeeklog.Field{
	{Name: "ts", Type: "time"}, {Name: "host", Type: "addr"}, {Name: "host_p", Type: "port"},
	{Name: "software_type", Type: "enum"}, {Name: "name", Type: "string"},
	{Name: "version.major", Type: "count"}, {Name: "version.minor", Type: "count"},
	{Name: "version.minor2", Type: "count"}, {Name: "version.minor3", Type: "count"},
	{Name: "version.addl", Type: "string"}, {Name: "unparsed_version", Type: "string"},
}

// LogPath is the log stream's path.
const LogPath = "software"

// Row returns the software.log values of i, one per LogFields entry.
func (i *Info) Row() []zeeklog.Value {
	count := func(f Fields, n uint64) zeeklog.Value {
		if i.Version.Has(f) {
			return zeeklog.Count(n)
		}
		return zeeklog.Unset()
	}
	port, addl := zeeklog.Unset(), zeeklog.Unset()
	if i.HasPort {
		port = zeeklog.Port(i.Port)
	}
	if i.Version.Has(HasAddl) {
		addl = zeeklog.String(i.Version.Addl)
	}
	return []zeeklog.Value{
		zeeklog.Time(i.TS), zeeklog.Addr(i.Host), port, zeeklog.Enum(i.Type.String()), zeeklog.String(i.Name),
		count(HasMajor, i.Version.Major), count(HasMinor, i.Version.Minor), count(HasMinor2, i.Version.Minor2),
		count(HasMinor3, i.Version.Minor3), addl, zeeklog.String(i.Unparsed),
	}
}

// VersionChange is Zeek's Software::version_change: a host shows a version
// of a known software name it was not known to run. Old is the most recent
// version registered before.
type VersionChange struct {
	TS       time.Time // the owner's network time
	Old, New Info
}

// NoteVersionChange is the notice type policy/frameworks/software/version-changes.zeek raises.
const NoteVersionChange = "Software::Software_Version_Change"

// Msg is the notice message:
// "<network time> <type> '<name>' version changed from <old> to <new>".
func (c *VersionChange) Msg() string {
	return formatTime(c.TS) + " " + c.Old.Type.String() + " '" + c.Old.Name + "' version changed from " +
		c.Old.Version.String() + " to " + c.New.Version.String()
}

// Sub is the notice's sub field: software_fmt of the new version ("name a.b.c").
func (c *VersionChange) Sub() string { return c.New.Name + " " + c.New.Version.String() }

// formatTime prints a network time as Zeek's "%.6f" does.
func formatTime(t time.Time) string {
	us := t.Round(time.Microsecond).UnixMicro()
	sign := ""
	if us < 0 {
		sign, us = "-", -us
	}
	frac := strconv.FormatInt(us%1e6, 10)
	return sign + strconv.FormatInt(us/1e6, 10) + "." + strings.Repeat("0", 6-len(frac)) + frac
}
