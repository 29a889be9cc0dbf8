package profiles

import "testing"

// The suggested minimum must itself be accepted: printed rounded down
// (0.333333 for a 300 ms period) it would be refused again.
func TestMinCPUPercentIsEnough(t *testing.T) {
	for _, period := range []uint64{1000, 3000, 7000, 100000, 300000, 700000, 1000000} {
		pct := MinCPUPercent(period)
		if q := CPUQuotaUS(pct, period); q < MinCPUQuotaUS {
			t.Errorf("period %d: suggested cpu %g gives a quota of %g µs, below %d", period, pct, q, MinCPUQuotaUS)
		}
		if q := CPUQuotaUS(pct-0.001, period); q >= MinCPUQuotaUS+float64(period)/1e5 {
			t.Errorf("period %d: suggested cpu %g is far above the minimum", period, pct)
		}
	}
}
