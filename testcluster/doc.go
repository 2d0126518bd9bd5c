// Package testcluster runs a real shoal cluster of separate `node` processes
// on 127.0.0.1 for multi-process tests and for the demo (cmd/testcluster).
//
// It owns the processes it starts and nothing else: it builds the node binary
// (Build), starts managers, datanodes and workers on ephemeral ports and reads
// each node's addresses back from the JSON ready line the node prints on
// stdout (Start, Add, Launch), signals them by pid (Kill, Stop, Cont,
// Terminate), restarts them under the same name (Restart), asks them for their
// status (Proc.Status), waits until every running node reports the same ring
// checksum per pool with the expected members (WaitConverged), reads the
// managers' Zeek logs (ReadLog), and stops everything it started (Close).
//
//	bin, err := testcluster.Build(ctx, binDir)
//	c, err := testcluster.Start(ctx, testcluster.Options{
//		Binary: bin, Dir: t.TempDir(), Managers: 1, Datanodes: 3,
//	})
//	defer c.Close()
//	w, err := c.Add(ctx, "worker", "--read", pcap)
//	code, err := w.Wait(ctx)
//	err = c.WaitConverged(ctx, 10*time.Second)
//	log, err := c.ReadLog(c.ByRole("manager")[0], "known_hosts")
//
// Faults: Kill (kill -9), Stop and Cont, Pause (SIGSTOP for a duration),
// Terminate (graceful leave), Restart (same name, same ports where free, a
// manager's same --log-dir), Add (a node mid-run); with Options.Netns every
// node runs in a network namespace of its own and Isolate, Reconnect, Split
// and Heal cut and heal the cluster network (ip link set … down; the
// harness keeps reading status over a separate management network); with
// Options.ManagerDisk every manager writes its logs to a small tmpfs that
// FillDisk fills and FreeDisk frees. Close removes every namespace, link and
// mount it created, also after a failed test; a network left by a process
// that died is removed by the next cluster that takes its slot.
//
// Every node's stdout and stderr are kept in Options.Dir as <name>.stdout and
// <name>.stderr (appended to on restart); a manager writes its logs under
// <Dir>/<name>/.
package testcluster
