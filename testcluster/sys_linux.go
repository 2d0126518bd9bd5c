package testcluster

import "syscall"

// sysProcAttr makes the kernel kill a node when the harness dies, so no node
// outlives a crashed test run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
