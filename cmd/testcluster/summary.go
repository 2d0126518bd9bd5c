package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"shoal/node"
	"shoal/testcluster"
)

// sumCounters adds the counters of the nodes of role in final.
func sumCounters(final map[string]*node.Status, role string) node.Counters {
	var c node.Counters
	for _, st := range final {
		if st.Role != role {
			continue
		}
		c.Sent += st.Counters.Sent
		c.Received += st.Counters.Received
		c.Acknowledged += st.Counters.Acknowledged
		c.Rerouted += st.Counters.Rerouted
		c.Dropped += st.Counters.Dropped
		c.NoMembers += st.Counters.NoMembers
	}
	return c
}

// summary prints the per-node table, the totals, and the notices and
// SumStats results the managers logged.
func (d *demo) summary(c *testcluster.Cluster, final map[string]*node.Status, exits map[string]string,
	start totals, trafficTime time.Duration, victim *testcluster.Proc, fos []failover,
	reconverged time.Duration, rows int, hosts map[string]int, an *analysis) {
	var b strings.Builder
	b.WriteString("\nsummary\n")
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NODE\tROLE\tEND\tSENT\tACKED\tRECEIVED\tRE-ROUTED\tDROPPED\tKNOWN HOSTS\t")
	for _, p := range c.Nodes() {
		st := final[p.Name]
		if st == nil {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t-\t-\t-\t-\t-\t-\t\n", p.Name, p.Role, exits[p.Name])
			continue
		}
		k := "-"
		switch {
		case st.Datanode != nil:
			k = fmt.Sprintf("%d new", st.Datanode.Counter("hosts_new"))
		case st.Manager != nil:
			k = fmt.Sprintf("%d logged", st.Manager.Records["known_hosts"])
		case st.Worker != nil:
			k = fmt.Sprintf("%d sent", st.Worker.Counter("hosts_sent"))
		}
		end := exits[p.Name]
		if p == victim {
			end = "killed -9 (*)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", p.Name, p.Role, end,
			st.Counters.Sent, st.Counters.Acknowledged, st.Counters.Received, st.Counters.Rerouted,
			st.Counters.Dropped, k)
	}
	tw.Flush()
	if victim != nil {
		fmt.Fprintf(&b, "  (*) %s's counters as last seen before the kill\n", victim.Name)
	}

	w := sumCounters(final, testcluster.RoleWorker)
	dn := sumCounters(final, testcluster.RoleDatanode)
	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  events sent by the workers\t%d\t(%.0f/s over %s of traffic after convergence)\n",
		w.Sent, float64(w.Sent-start.sent)/trafficTime.Seconds(), trafficTime.Round(time.Millisecond))
	fmt.Fprintf(tw, "  events acknowledged to the workers\t%d\t\n", w.Acknowledged)
	note := ""
	if victim != nil {
		note = "(" + victim.Name + " counted as last seen before the kill)"
	}
	fmt.Fprintf(tw, "  events received by the datanodes\t%d\t%s\n", dn.Received, note)
	fmt.Fprintf(tw, "  events re-routed\t%d\t\n", w.Rerouted)
	fmt.Fprintf(tw, "  events dropped (worker side)\t%d\t(%d with no live datanode)\n", w.Dropped, w.NoMembers)
	dups := 0
	for _, n := range hosts {
		if n > 1 {
			dups++
		}
	}
	fmt.Fprintf(tw, "  hosts logged (known_hosts.log rows)\t%d\t(%d distinct hosts, %d logged more than once)\n", rows, len(hosts), dups)
	if victim != nil {
		sort.Slice(fos, func(i, j int) bool { return fos[i].worker < fos[j].worker })
		for _, f := range fos {
			fmt.Fprintf(tw, "  kill -> detection (%s)\t%s\t\n", f.worker, fmtDur(f.detected.Sub(d.killAt)))
			fmt.Fprintf(tw, "  kill -> first re-routed ack (%s)\t%s\t(%d unacknowledged events re-sent)\n", f.worker, fmtDur(f.firstAck.Sub(d.killAt)), f.rerouted)
		}
		fmt.Fprintf(tw, "  kill -> all survivors agree on the rings\t%s\t\n", fmtDur(reconverged))
	}
	tw.Flush()
	if an != nil {
		b.WriteString("\n")
		an.render(&b)
	}
	d.print(b.String() + "\n")
}
