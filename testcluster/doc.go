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
// Every node's stdout and stderr are kept in Options.Dir as <name>.stdout and
// <name>.stderr (appended to on restart); a manager writes its logs under
// <Dir>/<name>/.
package testcluster
