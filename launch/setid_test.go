package launch

import "testing"

func TestSetIDReason(t *testing.T) {
	for _, c := range []struct {
		ruid, euid, rgid, egid int
		secure                 bool
		refused                bool
	}{
		{0, 0, 0, 0, false, false},
		{1000, 1000, 1000, 1000, false, false},
		{65534, 0, 65534, 65534, false, true}, // setuid root
		{65534, 65534, 65534, 0, false, true}, // setgid root
		{1000, 1000, 1000, 1000, true, true},  // file capabilities
		{0, 1000, 0, 0, false, true},          // setuid to a user: still not the caller
	} {
		if got := setIDReason(c.ruid, c.euid, c.rgid, c.egid, c.secure) != ""; got != c.refused {
			t.Errorf("setIDReason(%d, %d, %d, %d, %v) refuses: %v, want %v", c.ruid, c.euid, c.rgid, c.egid, c.secure, got, c.refused)
		}
	}
}
