package sdscope

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rcon/cgroupfs"
)

func TestCPUMask(t *testing.T) {
	for list, want := range map[string][]byte{"0": {1}, "0-1,3": {0x0b}, "8": {0, 1}, "1,9-10": {2, 6}} {
		got, err := cpuMask(list)
		if err != nil || string(got) != string(want) {
			t.Errorf("cpuMask(%q) = %v, %v; want %v", list, got, err, want)
		}
	}
	for _, bad := range []string{"a", "3-1", "-1", "0-99999"} {
		if _, err := cpuMask(bad); err == nil {
			t.Errorf("cpuMask(%q) accepted", bad)
		}
	}
}

func TestCheckSlice(t *testing.T) {
	for _, ok := range []string{"rcon.slice", "rcon-batch.slice", "-.slice", "a_b:c.slice"} {
		if err := CheckSlice(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".slice", "rcon", "rcon.scope", "a/b.slice", "a--b.slice", "-a.slice", "a-.slice", "a b.slice"} {
		if err := CheckSlice(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestUnitFor(t *testing.T) {
	if u := UnitFor("rcon-12-34"); u != "rcon-12-34.scope" {
		t.Error(u)
	}
	if u := UnitFor("nightly"); u != "rcon-nightly.scope" {
		t.Error(u)
	}
}

func TestLimitProps(t *testing.T) {
	r := &cgroupfs.Resources{CPUPercent: 20, CPUPeriod: 50000, CPUWeight: 7, Cpuset: "0", Mem: 100 << 20, MemHigh: 80 << 20,
		SwapSet: true, Pids: 50, IO: []cgroupfs.IOLimit{{Major: 8, Minor: 0, Kind: cgroupfs.ReadBPS, Rate: 1 << 20}}}
	got := map[string]string{}
	for _, p := range limitProps(r) {
		got[p.Name] = p.Value.String()
		if p.Name == "IOReadBandwidthMax" {
			// godbus cannot print a(st); its signature and value tell.
			got[p.Name] = p.Value.Signature().String() + fmt.Sprint(p.Value.Value())
		}
	}
	want := map[string]string{"CPUQuotaPerSecUSec": "@t 200000", "CPUQuotaPeriodUSec": "@t 50000", "CPUWeight": "@t 7",
		"AllowedCPUs": "@ay [0x1]", "MemoryMax": "@t 104857600", "MemoryHigh": "@t 83886080", "MemorySwapMax": "@t 0",
		"TasksMax": "@t 50", "IOReadBandwidthMax": "a(st)[{/dev/block/8:0 1048576}]"}
	for k, v := range want {
		if !strings.Contains(got[k], strings.TrimPrefix(v, "@t ")) {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("properties %v, want the keys of %v", got, want)
	}
	if p := limitProps(&cgroupfs.Resources{}); len(p) != 0 {
		t.Errorf("no limits gave %v", p)
	}
}

// TestRestoreProps: a change that did not hold is undone field by field:
// what the old limits had comes back, what they lacked is lifted, and
// nothing the change left alone is sent.
func TestRestoreProps(t *testing.T) {
	old := &cgroupfs.Resources{CPUPercent: 30, Mem: 200 << 20, IO: []cgroupfs.IOLimit{{Major: 8, Minor: 0, Kind: cgroupfs.ReadBPS, Rate: 5 << 20}}}
	changed := &cgroupfs.Resources{CPUPercent: 20, CPUPeriod: 50000, CPUWeight: 7, Cpuset: "1", Mem: 100 << 20, MemHigh: 80 << 20,
		SwapSet: true, Pids: 50, IO: []cgroupfs.IOLimit{{Major: 8, Minor: 0, Kind: cgroupfs.ReadBPS, Rate: 1 << 20}, {Major: 8, Minor: 16, Kind: cgroupfs.ReadBPS, Rate: 1 << 20}}}
	inf := fmt.Sprint(uint64(math.MaxUint64))
	got := map[string]string{}
	for _, p := range restoreProps(old, changed) {
		got[p.Name] = fmt.Sprint(p.Value.Value())
	}
	want := map[string]string{"CPUQuotaPerSecUSec": "300000", "CPUQuotaPeriodUSec": inf, "CPUWeight": inf,
		"AllowedCPUs": "[]", "MemoryMax": "209715200", "MemoryHigh": inf, "MemorySwapMax": inf, "TasksMax": inf,
		"IOReadBandwidthMax": "[{/dev/block/8:0 5242880} {/dev/block/8:16 " + inf + "}]"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("properties %v, want the keys of %v", got, want)
	}
	if p := restoreProps(old, &cgroupfs.Resources{Pids: 9}); len(p) != 1 || p[0].Name != "TasksMax" {
		t.Errorf("a change of pids alone is undone by %v", p)
	}
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	write := func(f, v string) {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cpu.max", "20000 100000")
	write("memory.max", "104857600")
	write("pids.max", "50")
	write("io.max", "8:0 rbps=1048576 wbps=max riops=max wiops=max")
	write("cpuset.cpus", "0-1")
	r := &cgroupfs.Resources{CPUPercent: 20, Mem: 100 << 20, Pids: 50, Cpuset: "0,1",
		IO: []cgroupfs.IOLimit{{Major: 8, Minor: 0, Kind: cgroupfs.ReadBPS, Rate: 1 << 20}}}
	if err := Verify(dir, r); err != nil {
		t.Fatal(err)
	}
	for f, ctrl := range map[string]string{"cpu.max": "cpu", "memory.max": "memory", "pids.max": "pids", "io.max": "io", "cpuset.cpus": "cpuset"} {
		old, _ := os.ReadFile(filepath.Join(dir, f))
		write(f, "max")
		err := Verify(dir, r)
		if err == nil || !strings.Contains(err.Error(), "the "+ctrl+" limit is not in force") {
			t.Errorf("%s dropped: %v", f, err)
		}
		write(f, strings.TrimSpace(string(old)))
	}
	// A limit systemd never got a file for (controller missing) is refused too.
	if err := Verify(dir, &cgroupfs.Resources{MemHigh: 1 << 20}); err == nil || !strings.Contains(err.Error(), "memory") {
		t.Errorf("missing memory.high: %v", err)
	}
}

func TestRunSlice(t *testing.T) {
	for _, c := range []struct{ parent, name, want string }{
		{"rcon.slice", "rcon-12-34", `rcon-rcon\x2d12\x2d34.slice`},
		{"batch-night.slice", "job", "batch-night-job.slice"},
		{"-.slice", "a-b", `a\x2db.slice`},
	} {
		got := RunSlice(c.parent, c.name)
		if got != c.want || !IsRunSlice(got, c.name) {
			t.Errorf("RunSlice(%q, %q) = %q (IsRunSlice %v), want %q", c.parent, c.name, got, IsRunSlice(got, c.name), c.want)
		}
	}
	for _, bad := range []string{"user.slice", "-.slice", "system-job.slice.x", "rcon-other.slice"} {
		if IsRunSlice(bad, "job") {
			t.Errorf("IsRunSlice(%q, job) = true", bad)
		}
	}
}
