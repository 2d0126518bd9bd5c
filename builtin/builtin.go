// Package builtin is the one registration list of shoal's analyses: the
// modules every node runs, built from their configurations. cmd/node maps
// its flags to Config; tests and the multi-process harness build the same
// list. The node itself knows no analysis by name: it runs whatever list
// it is given (node.Config.Modules).
//
// Adding an analysis: write its package (implementing analysis.Module),
// add its configuration to Config and one line to Modules, and map its
// flags in cmd/node.
package builtin

import (
	"time"

	"shoal/analysis"
	"shoal/connlog"
	"shoal/known/certs"
	"shoal/known/hosts"
	"shoal/known/services"
	"shoal/notice"
	"shoal/site"
	"shoal/software"
)

// Config holds the configuration of every built-in module. The zero value
// runs each with its defaults.
type Config struct {
	Hosts    hosts.Config
	Services services.Config
	Certs    certs.Config
	Software software.Config
	Conn     connlog.Config
}

// SetLocalNets sets the local networks of every module that has them (the
// --local-nets flag).
func (c *Config) SetLocalNets(n site.Nets) {
	c.Hosts.LocalNets = n
	c.Services.LocalNets = n
	c.Certs.LocalNets = n
	c.Software.LocalNets = n
	c.Conn.LocalNets = n
}

// SetExpire sets how long a known host, service or certificate stays known
// (the --known-hosts-expire flag).
func (c *Config) SetExpire(d time.Duration) {
	c.Hosts.Expire = d
	c.Services.Expire = d
	c.Certs.Expire = d
}

// Modules returns fresh instances of the built-in modules, configured by
// c, in the order their hooks run.
func Modules(c Config) []analysis.Module {
	return []analysis.Module{
		notice.New(),
		hosts.New(c.Hosts),
		services.New(c.Services),
		certs.New(c.Certs),
		software.New(c.Software),
		connlog.New(c.Conn),
	}
}
