package sumstats_test

import (
	"fmt"
	"net/netip"
	"time"

	"shoal/sumstats"
)

func ExampleEngine() {
	e := sumstats.New(sumstats.Config{})
	limit := 3.0
	err := e.Add(sumstats.Def{
		Name:  "conn-attempts",
		Epoch: time.Minute,
		Reducers: []sumstats.Reducer{{
			Stream: "conn",
			Apply:  []sumstats.Calc{sumstats.CalcSum, sumstats.CalcUnique},
		}},
		ThresholdVal: func(_ sumstats.Key, r sumstats.Result) float64 { return float64(r.Get("conn").Unique) },
		Threshold:    &limit,
	}, time.Unix(1300475160, 0))
	if err != nil {
		fmt.Println(err)
		return
	}
	src := sumstats.Key{Host: netip.MustParseAddr("192.0.2.7")}
	t0 := time.Unix(1300475168, 0)
	var outs []sumstats.Output
	for i, port := range []uint64{22, 23, 80, 443} {
		outs = append(outs, e.Observe("conn", src, sumstats.Num(port), t0.Add(time.Duration(i)*time.Second))...)
	}
	outs = append(outs, e.Tick(t0.Add(time.Minute))...)
	for _, o := range outs {
		switch o.Kind {
		case sumstats.ThresholdCrossed:
			fmt.Printf("%s %s crossed at %.0f\n", o.Def, o.Key, o.Value)
		case sumstats.EpochResult:
			r := o.Result.Get("conn")
			fmt.Printf("%s %s: num=%d unique=%d\n", o.Def, o.Key, r.Num, r.Unique)
		case sumstats.EpochFinished:
			fmt.Printf("%s epoch of %v finished\n", o.Def, o.End.Sub(o.Start))
		}
	}
	// Output:
	// conn-attempts sumstats_key(host=192.0.2.7) crossed at 3
	// conn-attempts sumstats_key(host=192.0.2.7): num=4 unique=4
	// conn-attempts epoch of 1m8s finished
}
