package node_test

import (
	"context"
	"fmt"

	"shoal/known/hosts"
	"shoal/node"
)

// A single datanode owns every key of its pool, so a hashed send is
// delivered to its own handler.
func ExampleNew() {
	n, err := node.New(node.Config{
		Name: "dn-1", Role: node.RoleDatanode,
		Bind: "127.0.0.1:0", DataBind: "127.0.0.1:0", Profile: "fast",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	got := make(chan hosts.Seen, 1)
	node.Handle(n, func(from string, ev hosts.Seen) { got <- ev })
	ctx := context.Background()
	if err := n.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	if err := n.WaitPools(ctx, "datanode"); err != nil {
		fmt.Println(err)
		return
	}
	ev := hosts.Seen{TS: 1300475168783842000}
	if err := n.SendHashed(ctx, "datanode", []byte("141.142.220.118"), ev); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("delivered to dn-1 at", (<-got).TS)
	// Output: delivered to dn-1 at 1300475168783842000
}
