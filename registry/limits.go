package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"

	"rcon/cgroupfs"
	"rcon/spec"
)

// mergeLimits returns old with every limit that r sets written over it:
// spec.OverlayLimits, the layering a run's flags get over its profile.
func mergeLimits(old, r cgroupfs.Resources) cgroupfs.Resources {
	merged := spec.OverlayLimits(spec.LimitsOf(old, "the group"), spec.LimitsOf(r, "--"))
	return merged.Resources()
}

// joinLimits is the rule for a joiner's limits asked against a live shared
// group's have: the group keeps its own (kept, when the asked ones
// differ) unless update is set, when the asked ones are written over
// them (updated; refused if the merged CPU quota is below the kernel's
// minimum). It returns the limits the group is to have.
func joinLimits(name string, have, asked cgroupfs.Resources, update bool) (limits cgroupfs.Resources, updated, kept bool, err error) {
	merged := mergeLimits(have, asked)
	if asked.Empty() || sameLimits(merged, have) {
		return have, false, false, nil
	}
	if !update {
		return have, false, true, nil
	}
	if err := checkMergedQuota(name, &merged); err != nil {
		return have, false, false, err
	}
	return merged, true, false, nil
}

// sameLimits compares limits as they are recorded.
func sameLimits(a, b cgroupfs.Resources) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// find returns the record of a live group by name, and the group.
func find(name string) (*Record, *cgroupfs.Group, error) {
	if err := cgroupfs.ValidName(name); err != nil {
		return nil, nil, err
	}
	rec, err := readRecord(recordPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("no group %s (rcon ps lists them)", name)
	}
	if err != nil {
		return nil, nil, err
	}
	if !rec.groupExists() {
		return nil, nil, fmt.Errorf("group %s is recorded but does not exist (yet, or any more)", name)
	}
	g, err := rec.Group()
	return rec, g, err
}

// ErrBelowUsage refuses a memory limit below what the group uses now.
var ErrBelowUsage = errors.New("memory limit below current usage")

// checkMergedQuota refuses a CPU quota below the kernel's minimum in the
// limits a live group is about to get: checked on the merged limits, as a
// new --cpu meets the group's own period, a new --cpu-period its own
// percentage (rcon set, --update).
func checkMergedQuota(name string, merged *cgroupfs.Resources) error {
	if merged.CPUPercent <= 0 {
		return nil
	}
	period, _ := merged.Quota()
	if quota, err := cgroupfs.CheckCPUQuota(merged.CPUPercent, period); err != nil {
		return fmt.Errorf("%w: %s: %g%% of its %d µs period is a quota of %g µs, below the kernel's minimum of %d µs",
			errBadLimits, name, merged.CPUPercent, period, quota, cgroupfs.MinCPUQuotaUS)
	}
	return nil
}

// errBadLimits is a limit the kernel would refuse, found before writing it.
var errBadLimits = errors.New("invalid limits")

// SetLimits writes the limits r sets over those of the live group name
// and records them, under the name's lock. A hard memory limit below the
// group's current usage is refused with ErrBelowUsage unless force is set;
// on cgroup v1 the kernel then tries to reclaim down to it and refuses
// with EBUSY if it cannot, which is reported as such.
func SetLimits(name string, r *cgroupfs.Resources, force bool) (*Record, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	l, err := lockName(name)
	if err != nil {
		return nil, err
	}
	defer l.unlock()
	rec, g, err := find(name)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	merged := mergeLimits(rec.Limits, *r)
	if err := checkMergedQuota(name, &merged); err != nil {
		return nil, err
	}
	if r.Mem > 0 {
		if st, err := g.Stats(); err == nil && uint64(r.Mem) < st.MemCurrent && !force {
			return nil, fmt.Errorf("%w: %s uses %s now, the new limit is %s; on cgroup v%d the kernel would %s (--force does it anyway)",
				ErrBelowUsage, name, cgroupfs.FormatSize(int64(st.MemCurrent)), cgroupfs.FormatSize(r.Mem), g.Version, belowUsageEffect(g.Version))
		}
	}
	if rec.Driver == DriverSystemd {
		if err := setScopeLimits(rec, &merged, r); err != nil {
			return nil, fmt.Errorf("set limits of %s: %w", name, err)
		}
	} else if err := g.Update(&merged); err != nil {
		if errors.Is(err, syscall.EBUSY) && r.Mem > 0 {
			return nil, fmt.Errorf("%w: the kernel could not reclaim %s down to %s (EBUSY); the limit is unchanged", ErrBelowUsage, name, cgroupfs.FormatSize(r.Mem))
		}
		return nil, fmt.Errorf("set limits of %s: %w", name, err)
	}
	rec.Limits = merged
	if err := rec.Update(); err != nil {
		return nil, err
	}
	return rec, nil
}

func belowUsageEffect(v cgroupfs.Version) string {
	if v == cgroupfs.V1 {
		return "try to reclaim down to it and refuse (EBUSY) if it cannot"
	}
	return "reclaim down to it and, failing that, OOM-kill processes in the group"
}
