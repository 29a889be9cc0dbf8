package cgroupfs

import (
	"fmt"
	"math"
)

// The bounds of every numeric limit, in one place: flags (rcon run, attach,
// set, --update), profiles and whatever reaches Create or SetLimits are
// checked against these. They are what the kernel accepts, or where the
// arithmetic rcon does on a value would stop meaning anything; checking
// them up front turns a failure (or a wrapped quota that means "no limit")
// after the group exists into bad input before anything is made.
const (
	MinCPUPeriodUS = 1000    // 1 ms, the kernel's cfs_period_us minimum
	MaxCPUPeriodUS = 1000000 // 1 s, its maximum
	MaxCPUWeight   = 10000   // v2 cpu.weight's maximum (v1 shares are scaled from it)
	// MaxCPUPercent is 1000 CPUs. Far beyond it the quota in µs no longer
	// fits an int64 (1e17 % wrapped to -1, "unlimited").
	MaxCPUPercent = 100000
	// MaxPids is the kernel's PID_MAX_LIMIT, the largest pids.max it takes.
	MaxPids = 1 << 22
)

// CheckCPUPercent checks a CPU quota in percent of one CPU. NaN and the
// infinities are refused with the rest: a comparison with NaN is false.
func CheckCPUPercent(v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 || v > MaxCPUPercent {
		return fmt.Errorf("must be a percentage of one CPU, above 0 and at most %d (150 = 1.5 CPUs), got %v", MaxCPUPercent, v)
	}
	return nil
}

// CheckCPUPeriod checks a quota period in microseconds.
func CheckCPUPeriod(v int64) error {
	if v < MinCPUPeriodUS || v > MaxCPUPeriodUS {
		return fmt.Errorf("must be between %d and %d microseconds, got %d", MinCPUPeriodUS, MaxCPUPeriodUS, v)
	}
	return nil
}

// CheckCPUWeight checks a relative CPU weight.
func CheckCPUWeight(v int64) error {
	if v < 1 || v > MaxCPUWeight {
		return fmt.Errorf("must be between 1 and %d, got %d", MaxCPUWeight, v)
	}
	return nil
}

// CheckPids checks a pids limit. Zero is refused: it would stop the
// command itself from starting; no limit is spelled by leaving it out.
func CheckPids(v int64) error {
	if v <= 0 || v > MaxPids {
		return fmt.Errorf("must be above 0 and at most %d, got %d (leave it out for no limit)", MaxPids, v)
	}
	return nil
}

// CheckMemLimit checks a hard or high memory limit in bytes (ParseSize
// already refused negative and overflowing sizes). A zero limit would
// kill or stall the command at once.
func CheckMemLimit(v int64) error {
	if v <= 0 {
		return fmt.Errorf("must be above 0 (leave it out for no limit)")
	}
	return nil
}

// Check checks every numeric limit r holds against the bounds above, for
// limits that did not come through a flag or a profile key (a record's,
// or a caller's own Resources). Each error names the field.
func (r *Resources) Check() error {
	if r.CPUPercent != 0 {
		if err := CheckCPUPercent(r.CPUPercent); err != nil {
			return fmt.Errorf("cpu: %w", err)
		}
	}
	if r.CPUPeriod != 0 {
		if r.CPUPeriod > math.MaxInt64 {
			return fmt.Errorf("cpu period: must be between %d and %d microseconds, got %d", MinCPUPeriodUS, MaxCPUPeriodUS, r.CPUPeriod)
		}
		if err := CheckCPUPeriod(int64(r.CPUPeriod)); err != nil {
			return fmt.Errorf("cpu period: %w", err)
		}
	}
	if r.CPUWeight != 0 {
		if r.CPUWeight > math.MaxInt64 {
			return fmt.Errorf("cpu weight: must be between 1 and %d, got %d", MaxCPUWeight, r.CPUWeight)
		}
		if err := CheckCPUWeight(int64(r.CPUWeight)); err != nil {
			return fmt.Errorf("cpu weight: %w", err)
		}
	}
	if r.Pids != 0 {
		if err := CheckPids(r.Pids); err != nil {
			return fmt.Errorf("pids: %w", err)
		}
	}
	for _, m := range []struct {
		name string
		v    int64
	}{{"mem", r.Mem}, {"mem high", r.MemHigh}} {
		if m.v < 0 {
			return fmt.Errorf("%s: must be above 0, got %d", m.name, m.v)
		}
	}
	if r.Swap < 0 {
		return fmt.Errorf("swap: must not be negative, got %d", r.Swap)
	}
	return nil
}

// CheckCPUQuota is the kernel's rule for a quota: pct percent of one CPU
// over periodUS must be at least MinCPUQuotaUS. It returns the quota, for
// the caller's message, which names where pct and the period came from.
func CheckCPUQuota(pct float64, periodUS uint64) (float64, error) {
	q := CPUQuotaUS(pct, periodUS)
	if q < MinCPUQuotaUS {
		return q, fmt.Errorf("a quota of %g µs per %d µs period, below the kernel's minimum of %d µs", q, periodUS, MinCPUQuotaUS)
	}
	return q, nil
}
