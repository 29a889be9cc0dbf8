package profiles

import (
	"testing"

	"rcon/cgroupfs"
)

// The suggested minimum must itself be accepted (printed rounded down,
// 0.333333 for a 300 ms period, it would be refused again), and be the
// smallest such value at its 4 decimals.
func TestMinCPUPercentIsEnough(t *testing.T) {
	for _, period := range []uint64{1000, 3000, 7000, 100000, 300000, 700000, 1000000} {
		pct := minCPUPercent(period)
		if q := cgroupfs.CPUQuotaUS(pct, period); q < cgroupfs.MinCPUQuotaUS {
			t.Errorf("period %d: suggested cpu %g gives a quota of %g µs, below %d", period, pct, q, cgroupfs.MinCPUQuotaUS)
		}
		if q := cgroupfs.CPUQuotaUS(pct-1e-4, period); q >= cgroupfs.MinCPUQuotaUS {
			t.Errorf("period %d: %g, one step below the suggested %g, is enough too", period, pct-1e-4, pct)
		}
	}
}
