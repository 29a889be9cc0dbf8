// Package fit tells a command the resources its limits allow instead of
// the host's. A program under a cgroup limit still counts the host's CPUs
// and memory and sizes itself for them (48 workers on a one-CPU quota, an
// 8 GB pool under a 500 MB limit), then is throttled or OOM-killed. Each
// runtime decides from its own source, so --fit answers each where it
// looks: environment variables for the runtimes that honour one, and the
// two files most others read (/sys/devices/system/cpu/online for glibc's
// sysconf and everything built on it, /proc/meminfo for free(1) and most
// memory heuristics), bound over the real ones in the command's mount
// namespace. What no file can change (sysinfo(2), used by musl and
// busybox) is out of its reach.
package fit

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Figures are what the command is told it has. A zero field is not
// limited: the host's figure stays.
type Figures struct {
	CPUs     int   // CPUs the limits allow
	MemBytes int64 // memory the limits allow
	// UsedBytes is the group's usage when the command starts (a shared
	// group's other members), taken off the free figures.
	UsedBytes int64
	// SwapBytes is the swap allowed; SwapSet tells 0 from not limited.
	SwapBytes int64
	SwapSet   bool
}

// String says the figures as --stats shows them: "1 CPU, 300M".
func (f Figures) String() string {
	var parts []string
	if f.CPUs > 0 {
		parts = append(parts, fmt.Sprintf("%d CPU", f.CPUs))
	}
	if f.MemBytes > 0 {
		parts = append(parts, fmt.Sprintf("%dM memory", f.MemBytes>>20))
	}
	if len(parts) == 0 {
		return "nothing (no CPU or memory limit)"
	}
	return strings.Join(parts, ", ")
}

// Limits are the parts of a run's limits that decide the figures.
type Limits struct {
	CPUPercent float64 // quota in percent of one CPU; 0: none
	Cpuset     string  // "0-1,3"; empty: none
	Mem        int64   // hard limit; 0: none
	MemHigh    int64   // throttling threshold, used when Mem is not set
	Swap       int64
	SwapSet    bool
}

// Compute gives the figures for limits l, with affinity the number of
// CPUs the caller may run on (0 if unknown) and used the group's usage.
// N is ceil(quota), no more than the cpuset's CPUs or the affinity mask;
// M is the hard limit, else the throttling threshold.
func Compute(l Limits, affinity int, used int64) (Figures, error) {
	var f Figures
	if l.CPUPercent > 0 {
		f.CPUs = int(math.Ceil(l.CPUPercent / 100))
	}
	if l.Cpuset != "" {
		n, err := CountCPUs(l.Cpuset)
		if err != nil {
			return f, err
		}
		if f.CPUs == 0 || n < f.CPUs {
			f.CPUs = n
		}
	}
	if f.CPUs > 0 && affinity > 0 && affinity < f.CPUs {
		f.CPUs = affinity
	}
	f.MemBytes = l.Mem
	if f.MemBytes == 0 {
		f.MemBytes = l.MemHigh
	}
	if f.MemBytes > 0 {
		f.UsedBytes = min(max(used, 0), f.MemBytes)
	}
	f.SwapBytes, f.SwapSet = l.Swap, l.SwapSet
	return f, nil
}

// CountCPUs counts the CPUs of a list like "0-1,3".
func CountCPUs(list string) (int, error) {
	n := 0
	for _, part := range strings.Split(strings.TrimSpace(list), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0, fmt.Errorf("cpu list %q: bad CPU %q", list, part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("cpu list %q: bad range %q", list, part)
			}
		}
		n += b - a + 1
	}
	return n, nil
}

// Env returns env with the variables runtimes honour set to the figures,
// each only where the caller has not set it already: GOMAXPROCS,
// OMP_NUM_THREADS and OMP_THREAD_LIMIT (GNU nproc, OpenMP),
// PYTHON_CPU_COUNT (Python 3.13+). JAVA_TOOL_OPTIONS is a list the JVM
// reads whole, so -XX:ActiveProcessorCount and -XX:MaxRAM are appended to
// it unless it names them already.
func Env(env []string, f Figures) []string {
	have := map[string]int{}
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		have[k] = i
	}
	out := append([]string(nil), env...)
	set := func(k, v string) {
		if _, ok := have[k]; !ok {
			out = append(out, k+"="+v)
		}
	}
	var java []string
	if f.CPUs > 0 {
		n := strconv.Itoa(f.CPUs)
		for _, k := range []string{"GOMAXPROCS", "OMP_NUM_THREADS", "OMP_THREAD_LIMIT", "PYTHON_CPU_COUNT"} {
			set(k, n)
		}
		java = append(java, "-XX:ActiveProcessorCount="+n)
	}
	if f.MemBytes > 0 {
		java = append(java, "-XX:MaxRAM="+strconv.FormatInt(f.MemBytes, 10))
	}
	if len(java) > 0 {
		i, ok := have["JAVA_TOOL_OPTIONS"]
		if !ok {
			out = append(out, "JAVA_TOOL_OPTIONS="+strings.Join(java, " "))
		} else {
			cur := strings.TrimPrefix(out[i], "JAVA_TOOL_OPTIONS=")
			for _, o := range java {
				name, _, _ := strings.Cut(o, "=")
				if !strings.Contains(cur, name+"=") {
					cur = strings.TrimSpace(cur + " " + o)
				}
			}
			out[i] = "JAVA_TOOL_OPTIONS=" + cur
		}
	}
	return out
}

// CPUOnline is the content of /sys/devices/system/cpu/online for n CPUs.
func CPUOnline(n int) string {
	if n <= 1 {
		return "0\n"
	}
	return fmt.Sprintf("0-%d\n", n-1)
}

// Meminfo rewrites the host's /proc/meminfo for the figures: MemTotal is
// the limit, MemFree and MemAvailable what the group has not used, and the
// page cache figures, which count the host's cache and would make
// "used = total - free - cache" negative, zero. With a swap limit, the
// swap lines say it too. Other lines are kept as the host has them.
func Meminfo(host []byte, f Figures) []byte {
	if f.MemBytes <= 0 && !f.SwapSet {
		return host
	}
	kb := func(b int64) int64 { return b / 1024 }
	repl := map[string]int64{}
	if f.MemBytes > 0 {
		free := kb(f.MemBytes - f.UsedBytes)
		repl["MemTotal"] = kb(f.MemBytes)
		repl["MemFree"] = free
		repl["MemAvailable"] = free
		for _, k := range []string{"Buffers", "Cached", "SwapCached", "Active(file)", "Inactive(file)", "SReclaimable", "Shmem"} {
			repl[k] = 0
		}
	}
	if f.SwapSet {
		repl["SwapTotal"] = kb(f.SwapBytes)
		repl["SwapFree"] = kb(f.SwapBytes)
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		line := sc.Text()
		key, _, _ := strings.Cut(line, ":")
		if v, ok := repl[key]; ok {
			fmt.Fprintf(&out, "%-16s%8d kB\n", key+":", v)
			continue
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}
