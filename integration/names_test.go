package integration

import (
	"fmt"
	"strings"
	"testing"
)

// TestGroupNameRuleIsOne: a group name is judged by one rule, whether it
// comes from --name, --shared, a profile's run.name or run.shared. The
// profile's run.name check used to accept names the run-time check
// refuses ("has space", "-x", 101 characters): `rcon profile check`
// passed such a profile and cron's run then failed at start. Now each
// such name is refused everywhere, and a good one is accepted everywhere.
func TestGroupNameRuleIsOne(t *testing.T) {
	needRoot(t)
	long := "rcontest-" + strings.Repeat("x", 92) // 101 characters
	for _, name := range []string{"rcontest has space", "-rcontest", long, "rcontest\tname", "rcontést"} {
		for _, key := range []string{"name", "shared"} {
			p := writeProfile(t, "names", fmt.Sprintf("[run]\n%s = %q\n", key, name))
			if r := rcon(t, "profile", "check", p); r.Code == 0 || !strings.Contains(r.Stderr, "run."+key) {
				t.Errorf("profile check of run.%s = %q: exit %d, stderr %q; want it refused naming run.%s", key, name, r.Code, r.Stderr, key)
			}
			if r := rcon(t, "--profile", p, "--", "true"); r.Code != 125 || !strings.Contains(r.Stderr, "run."+key) {
				t.Errorf("--profile with run.%s = %q: exit %d, stderr %q; want 125 naming run.%s", key, name, r.Code, r.Stderr, key)
			}
			if r := rcon(t, "--"+key, name, "--", "true"); r.Code != 125 || !strings.Contains(r.Stderr, "--"+key) {
				t.Errorf("--%s %q: exit %d, stderr %q; want 125 naming the flag", key, name, r.Code, r.Stderr)
			}
		}
		if left := findGroups("rcontest"); len(left) > 0 {
			for _, d := range left {
				if strings.Contains(d, "rcontest ") || strings.Contains(d, long) || strings.Contains(d, "-rcontest") {
					t.Errorf("group left: %s", d)
					killAndRemove(d)
				}
			}
		}
		stateEmpty(t)
	}
	const good = "rcontest-name.ok_1"
	cleanupGroup(t, good)
	for _, key := range []string{"name", "shared"} {
		p := writeProfile(t, "names", fmt.Sprintf("[run]\n%s = %q\n", key, good))
		if r := rcon(t, "profile", "check", p); r.Code != 0 {
			t.Errorf("profile check of run.%s = %q: exit %d, stderr %q", key, good, r.Code, r.Stderr)
		}
		if r := rcon(t, "--profile", p, "--", "true"); r.Code != 0 {
			t.Errorf("--profile with run.%s = %q: exit %d, stderr %q", key, good, r.Code, r.Stderr)
		}
	}
}
