package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCleanupFailureKeepsStatusAndOOMReport provokes a real cleanup
// failure: the command makes a child cgroup inside its own group, so rcon
// cannot remove the group (EBUSY). rcon used to return 125 and drop both
// the command's status and the OOM report. Now it reports the failure and
// everything else, and exits with the command's status when that is
// nonzero, 125 when the command succeeded (launch.afterCleanupFailure).
func TestCleanupFailureKeepsStatusAndOOMReport(t *testing.T) {
	needRoot(t)
	for _, c := range []struct {
		name    string
		args    []string
		want    int
		wantErr string // besides the cleanup failure
	}{
		{"status", helperArgs(t, "mkcgroup", "3", "0"), 3, ""},
		{"success", helperArgs(t, "mkcgroup", "0", "0"), 125, ""},
		{"oom", append([]string{"--mem", "32M", "--swap", "0", "--"}, helperArgs(t, "mkcgroup", "0", "256")...), 137, "killed by the OOM killer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if args[0] == "env" {
				args = append([]string{"--pids", "100", "--"}, args...)
			}
			// rcon's own removal is what fails here: a scope's cgroup
			// is systemd's to remove (with what the command made in it).
			args = append([]string{"--driver", "cgroupfs"}, args...)
			cmd := exec.Command(filepath.Join(binDir, "rcon"), args...)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			cmd.Run()
			if cmd.ProcessState == nil {
				t.Fatal("rcon did not run")
			}
			// Undo the provocation first, then let gc take the group and
			// its record, which rcon kept for it.
			sub := strings.TrimSpace(out.String())
			if strings.HasSuffix(sub, "/rcontest-sub") {
				if err := os.Remove(sub); err != nil {
					t.Errorf("remove %s: %v", sub, err)
				}
			} else {
				t.Errorf("the helper made no child group: stdout %q, stderr %q", out.String(), errb.String())
			}
			if r := rcon(t, "gc"); r.Code != 0 {
				t.Errorf("rcon gc: exit %d: %s", r.Code, r.Stderr)
			}
			checkNoLeak(t, cmd.Process.Pid)
			stateEmpty(t)

			stderr := errb.String()
			if code := cmd.ProcessState.ExitCode(); code != c.want {
				t.Errorf("exit %d, want %d (stderr %q)", code, c.want, stderr)
			}
			if !strings.Contains(stderr, "device or resource busy") {
				t.Errorf("the cleanup failure is not reported: %q", stderr)
			}
			if c.wantErr != "" && !strings.Contains(stderr, c.wantErr) {
				t.Errorf("stderr %q, want it to say %q", stderr, c.wantErr)
			}
		})
	}
}
