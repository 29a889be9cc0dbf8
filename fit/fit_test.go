package fit

import (
	"slices"
	"strings"
	"testing"
)

func TestCompute(t *testing.T) {
	for _, c := range []struct {
		name     string
		l        Limits
		affinity int
		used     int64
		want     Figures
	}{
		{"nothing limited", Limits{}, 8, 0, Figures{}},
		{"quota rounds up", Limits{CPUPercent: 150}, 8, 0, Figures{CPUs: 2}},
		{"a fifth of a CPU is one", Limits{CPUPercent: 20}, 8, 0, Figures{CPUs: 1}},
		{"cpuset caps the quota", Limits{CPUPercent: 400, Cpuset: "0-1"}, 8, 0, Figures{CPUs: 2}},
		{"quota caps the cpuset", Limits{CPUPercent: 100, Cpuset: "0-3"}, 8, 0, Figures{CPUs: 1}},
		{"cpuset alone", Limits{Cpuset: "0,2-3"}, 8, 0, Figures{CPUs: 3}},
		{"affinity caps", Limits{CPUPercent: 800}, 2, 0, Figures{CPUs: 2}},
		{"hard limit", Limits{Mem: 300 << 20, MemHigh: 100 << 20}, 0, 10 << 20, Figures{MemBytes: 300 << 20, UsedBytes: 10 << 20}},
		{"high when no hard limit", Limits{MemHigh: 100 << 20}, 0, 0, Figures{MemBytes: 100 << 20}},
		{"usage above the limit is the limit", Limits{Mem: 1 << 20}, 0, 5 << 20, Figures{MemBytes: 1 << 20, UsedBytes: 1 << 20}},
		{"swap", Limits{Mem: 1 << 20, SwapSet: true}, 0, 0, Figures{MemBytes: 1 << 20, SwapSet: true}},
	} {
		got, err := Compute(c.l, c.affinity, c.used)
		if err != nil || got != c.want {
			t.Errorf("%s: Compute(%+v, %d, %d) = %+v, %v; want %+v", c.name, c.l, c.affinity, c.used, got, err, c.want)
		}
	}
	if _, err := Compute(Limits{Cpuset: "3-1"}, 0, 0); err == nil {
		t.Error("a backwards cpuset range was accepted")
	}
}

func TestEnvKeepsWhatTheCallerSet(t *testing.T) {
	env := []string{"PATH=/bin", "OMP_NUM_THREADS=7", "JAVA_TOOL_OPTIONS=-Xss1m -XX:MaxRAM=1g"}
	got := Env(env, Figures{CPUs: 2, MemBytes: 300 << 20})
	for _, want := range []string{"PATH=/bin", "OMP_NUM_THREADS=7", "GOMAXPROCS=2", "OMP_THREAD_LIMIT=2", "PYTHON_CPU_COUNT=2",
		"JAVA_TOOL_OPTIONS=-Xss1m -XX:MaxRAM=1g -XX:ActiveProcessorCount=2"} {
		if !slices.Contains(got, want) {
			t.Errorf("Env: %q missing from %q", want, got)
		}
	}
	if len(got) != len(env)+3 {
		t.Errorf("Env added %d variables, want 3: %q", len(got)-len(env), got)
	}
	if got := Env([]string{"A=1"}, Figures{}); !slices.Equal(got, []string{"A=1"}) {
		t.Errorf("Env with nothing limited = %q, want it unchanged", got)
	}
	if got := Env(nil, Figures{MemBytes: 1 << 30}); !slices.Equal(got, []string{"JAVA_TOOL_OPTIONS=-XX:MaxRAM=1073741824"}) {
		t.Errorf("Env with memory only = %q", got)
	}
}

func TestCPUOnline(t *testing.T) {
	if CPUOnline(1) != "0\n" || CPUOnline(4) != "0-3\n" {
		t.Errorf("CPUOnline(1), (4) = %q, %q", CPUOnline(1), CPUOnline(4))
	}
}

const hostMeminfo = `MemTotal:       24683584 kB
MemFree:        24185996 kB
MemAvailable:   24332064 kB
Buffers:           25072 kB
Cached:           291256 kB
SwapCached:            0 kB
SwapTotal:       1048572 kB
SwapFree:        1048572 kB
Dirty:                12 kB
`

func TestMeminfo(t *testing.T) {
	got := string(Meminfo([]byte(hostMeminfo), Figures{MemBytes: 300 << 20, UsedBytes: 20 << 20, SwapSet: true}))
	for _, want := range []string{
		"MemTotal:         307200 kB\n", "MemFree:          286720 kB\n", "MemAvailable:     286720 kB\n",
		"Buffers:               0 kB\n", "Cached:                0 kB\n",
		"SwapTotal:             0 kB\n", "SwapFree:              0 kB\n", "Dirty:                12 kB\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Meminfo: no line %q in\n%s", want, got)
		}
	}
	if strings.Count(got, "\n") != strings.Count(hostMeminfo, "\n") {
		t.Errorf("Meminfo changed the number of lines:\n%s", got)
	}
	if got := Meminfo([]byte(hostMeminfo), Figures{CPUs: 2}); string(got) != hostMeminfo {
		t.Errorf("Meminfo without a memory limit changed the file:\n%s", got)
	}
}
