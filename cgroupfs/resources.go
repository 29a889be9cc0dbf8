// Package cgroupfs creates, limits, measures and removes the cgroups rcon
// runs commands in. It hides whether the host runs cgroup v1 (legacy or
// hybrid) or v2 (unified): callers describe limits as Resources and get a
// Group back.
package cgroupfs

import (
	"fmt"
	"strings"
)

// The CPU quota is a percentage of the period; the kernel refuses a
// cfs_quota_us (v1) or cpu.max quota (v2) below 1 ms. The profile loader
// and the flags check by this same rule, naming their own source.
const (
	DefaultCPUPeriodUS = 100000 // what the kernel and rcon use when no period is given
	MinCPUQuotaUS      = 1000
)

// CPUQuotaUS is the quota in microseconds that pct percent of one CPU gives
// over a period of periodUS microseconds.
func CPUQuotaUS(pct float64, periodUS uint64) float64 { return pct * float64(periodUS) / 100 }

// Quota turns the percentage into a CFS quota and period in µs.
func (r *Resources) Quota() (period uint64, quota int64) {
	period = r.CPUPeriod
	if period == 0 {
		period = DefaultCPUPeriodUS
	}
	return period, int64(CPUQuotaUS(r.CPUPercent, period))
}

// Resources are the limits of one group. A zero field means "no limit",
// so the zero value limits nothing.
type Resources struct {
	// CPUPercent is the CPU quota in percent of one CPU (150 = 1.5 CPUs).
	CPUPercent float64 `json:"cpu_percent,omitempty"`
	// CPUPeriod is the quota period in microseconds (default 100000).
	CPUPeriod uint64 `json:"cpu_period_us,omitempty"`
	// CPUWeight is the v2 weight, 1..10000 (v1: converted to cpu.shares).
	CPUWeight uint64 `json:"cpu_weight,omitempty"`
	// Cpuset lists the CPUs the group may run on, e.g. "0-1,3".
	Cpuset string `json:"cpuset,omitempty"`
	// Mem is the hard memory limit in bytes (v2 memory.max, v1 limit_in_bytes).
	Mem int64 `json:"mem,omitempty"`
	// MemHigh is the throttling threshold (v2 memory.high, v1 soft limit).
	MemHigh int64 `json:"mem_high,omitempty"`
	// Swap is the swap allowed on top of Mem; SwapSet tells 0 from unset.
	Swap    int64 `json:"swap,omitempty"`
	SwapSet bool  `json:"-"`
	// Pids caps the number of tasks (processes and threads).
	Pids int64 `json:"pids,omitempty"`
	// IO lists block-device throttles.
	IO []IOLimit `json:"io,omitempty"`
}

// IOKind says which throttle an IOLimit sets.
type IOKind string

const (
	ReadBPS   IOKind = "rbps"
	WriteBPS  IOKind = "wbps"
	ReadIOPS  IOKind = "riops"
	WriteIOPS IOKind = "wiops"
)

// IOLimit throttles one block device.
type IOLimit struct {
	Major int64  `json:"major"`
	Minor int64  `json:"minor"`
	Kind  IOKind `json:"kind"`
	Rate  uint64 `json:"rate"`
}

// Empty reports whether r limits nothing at all.
func (r *Resources) Empty() bool {
	return r.CPUPercent == 0 && r.CPUWeight == 0 && r.Cpuset == "" && r.Mem == 0 &&
		r.MemHigh == 0 && !r.SwapSet && r.Pids == 0 && len(r.IO) == 0
}

// LimitsText is a short human summary of a group's limits.
func LimitsText(r *Resources) string {
	var p []string
	if r.CPUPercent > 0 {
		p = append(p, fmt.Sprintf("cpu=%g%%", r.CPUPercent))
	}
	if r.Mem > 0 {
		p = append(p, "mem="+FormatSize(r.Mem))
	}
	if r.Pids > 0 {
		p = append(p, fmt.Sprintf("pids=%d", r.Pids))
	}
	if len(r.IO) > 0 {
		p = append(p, fmt.Sprintf("io=%d", len(r.IO)))
	}
	if len(p) == 0 {
		return "-"
	}
	return strings.Join(p, ",")
}
