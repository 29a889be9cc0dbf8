package cgroupfs

import (
	"testing"

	"github.com/containerd/cgroups/v3/cgroup2"
)

// The v2 path cannot run on this host's kernel (its controllers are in
// v1); these tests pin what it would write, and the VM (testvm/) runs it
// for real.
func TestV2Resources(t *testing.T) {
	r := &Resources{CPUPercent: 150, CPUWeight: 200, Cpuset: "0-1", Mem: 500 << 20, MemHigh: 400 << 20,
		Swap: 0, SwapSet: true, Pids: 64,
		IO: []IOLimit{{Major: 8, Minor: 0, Kind: ReadBPS, Rate: 1 << 20}, {Major: 8, Minor: 0, Kind: WriteIOPS, Rate: 50}}}
	res := v2Resources(r)
	if res.CPU.Max != "150000 100000" || *res.CPU.Weight != 200 || res.CPU.Cpus != "0-1" {
		t.Errorf("cpu: %+v", res.CPU)
	}
	if *res.Memory.Max != 500<<20 || *res.Memory.High != 400<<20 || *res.Memory.Swap != 0 {
		t.Errorf("memory: max %d high %d swap %d", *res.Memory.Max, *res.Memory.High, *res.Memory.Swap)
	}
	if res.Pids.Max != 64 {
		t.Errorf("pids: %+v", res.Pids)
	}
	want := []string{"8:0 rbps=1048576", "8:0 wiops=50"}
	for i, e := range res.IO.Max {
		if e.String() != want[i] {
			t.Errorf("io.max[%d] = %q, want %q", i, e.String(), want[i])
		}
	}
	if res := v2Resources(&Resources{}); res.CPU != nil || res.Memory != nil || res.Pids != nil || res.IO != nil {
		t.Errorf("empty resources write something: %+v", res)
	}
	r = &Resources{CPUPercent: 20, CPUPeriod: 50000}
	if got := v2Resources(r).CPU.Max; got != cgroup2.CPUMax("10000 50000") {
		t.Errorf("20%% of a 50ms period = %q", got)
	}
}

func TestV1Spec(t *testing.T) {
	r := &Resources{CPUPercent: 20, CPUWeight: 100, Mem: 64 << 20, MemHigh: 32 << 20, Swap: 16 << 20, SwapSet: true, Pids: 10,
		IO: []IOLimit{{Major: 7, Minor: 0, Kind: ReadBPS, Rate: 1 << 20}, {Major: 7, Minor: 0, Kind: WriteBPS, Rate: 2 << 20}}}
	res, err := v1Spec(r)
	if err != nil {
		t.Fatal(err)
	}
	if *res.CPU.Quota != 20000 || *res.CPU.Period != 100000 {
		t.Errorf("cfs quota/period = %d/%d, want 20000/100000", *res.CPU.Quota, *res.CPU.Period)
	}
	// runc's mapping: weight 100 (v2's default) is 2597 shares.
	if s := *res.CPU.Shares; s != 2597 {
		t.Errorf("shares for weight 100 = %d, want 2597", s)
	}
	if *res.Memory.Limit != 64<<20 || *res.Memory.Reservation != 32<<20 || *res.Memory.Swap != 80<<20 {
		t.Errorf("memory limit %d reservation %d memsw %d", *res.Memory.Limit, *res.Memory.Reservation, *res.Memory.Swap)
	}
	if *res.Pids.Limit != 10 || res.BlockIO.ThrottleReadBpsDevice[0].Rate != 1<<20 || res.BlockIO.ThrottleWriteBpsDevice[0].Major != 7 {
		t.Errorf("pids/blkio: %+v %+v", res.Pids, res.BlockIO)
	}
	if _, err := v1Spec(&Resources{SwapSet: true}); err == nil {
		t.Error("swap without a memory limit accepted on v1")
	}
}

func TestControllersFor(t *testing.T) {
	req, opt := controllersFor(&Resources{CPUPercent: 10, Pids: 5})
	if len(req) != 2 || req[0] != "cpu" || req[1] != "pids" {
		t.Errorf("required = %v", req)
	}
	if len(opt) != 2 || opt[0] != "memory" || opt[1] != "io" {
		t.Errorf("optional = %v", opt)
	}
	req, _ = controllersFor(&Resources{Cpuset: "0"})
	if req[len(req)-1] != "cpuset" {
		t.Errorf("cpuset not required: %v", req)
	}
}
