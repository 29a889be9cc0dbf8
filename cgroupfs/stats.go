package cgroupfs

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Stats is a group's accounting, the same on both versions. Zero means
// zero or, where a kernel lacks the file (peak pids on v1), unknown.
type Stats struct {
	CPUTotalNS   uint64 `json:"cpu_total_ns"`
	CPUUserNS    uint64 `json:"cpu_user_ns"`
	CPUSystemNS  uint64 `json:"cpu_system_ns"`
	NrPeriods    uint64 `json:"nr_periods"`
	NrThrottled  uint64 `json:"nr_throttled"`
	ThrottledNS  uint64 `json:"throttled_ns"`
	MemCurrent   uint64 `json:"mem_current_bytes"`
	MemPeak      uint64 `json:"mem_peak_bytes"`
	OOMKills     uint64 `json:"oom_kills"`
	PidsCurrent  uint64 `json:"pids_current"`
	PidsPeak     uint64 `json:"pids_peak,omitempty"`
	IOReadBytes  uint64 `json:"io_read_bytes"`
	IOWriteBytes uint64 `json:"io_write_bytes"`
}

// readKV reads "key value" lines; a file holding a bare number is
// returned under the key "".
func readKV(path string) (map[string]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		switch len(fs) {
		case 1:
			if v, err := strconv.ParseUint(fs[0], 10, 64); err == nil {
				m[""] = v
			}
		case 2:
			if v, err := strconv.ParseUint(fs[1], 10, 64); err == nil {
				m[fs[0]] = v
			}
		}
	}
	return m, sc.Err()
}

// readPids reads a cgroup.procs file.
func readPids(path string) ([]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, f := range strings.Fields(string(data)) {
		p, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%s: bad pid %q", path, f)
		}
		out = append(out, p)
	}
	return out, nil
}

// LevelStats reads, from a v2 group's directory, the figures that are
// lost when the group goes away before its parent is read: throttling,
// which cpu.stat counts per level (where the quota is), and I/O, whose
// counts a 6.1 kernel drops from the parent when a child is removed
// before a flush (fixed upstream in 6.5). ok is false when neither file
// could be read (the group is gone).
func LevelStats(dir string) (s Stats, ok bool) {
	if kv, err := readKV(dir + "/cpu.stat"); err == nil {
		s.NrPeriods, s.NrThrottled, s.ThrottledNS = kv["nr_periods"], kv["nr_throttled"], kv["throttled_usec"]*1000
		ok = true
	}
	if data, err := os.ReadFile(dir + "/io.stat"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			fs := strings.Fields(line) // MAJ:MIN key=value...
			if len(fs) == 0 {
				continue
			}
			for _, f := range fs[1:] {
				k, v, _ := strings.Cut(f, "=")
				n, err := strconv.ParseUint(v, 10, 64)
				switch {
				case err != nil:
				case k == "rbytes":
					s.IOReadBytes += n
				case k == "wbytes":
					s.IOWriteBytes += n
				}
			}
		}
		ok = true
	}
	return s, ok
}
