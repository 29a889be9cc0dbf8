package integration

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSetIDInstallRefused installs setuid-root and setgid-root copies of
// rcon and capcon, as a careless admin might, and runs them as nobody
// asking for root. Before the check, `rcon-suid --user root -- id -u`
// printed 0. Now each must refuse at once (125, one line saying what to do
// instead) and create nothing: no group, no record.
func TestSetIDInstallRefused(t *testing.T) {
	needRoot(t)
	dir := publicDir(t) // on a mount without nosuid, searchable by nobody
	for _, c := range []struct {
		tool string
		mode os.FileMode
		args []string
	}{
		{"rcon", 0o755 | os.ModeSetuid, []string{"--name", "setid-test", "--user", "root", "--", "id", "-u"}},
		{"rcon", 0o755 | os.ModeSetgid, []string{"--name", "setid-test", "--group", "root", "--", "id", "-g"}},
		{"capcon", 0o755 | os.ModeSetuid, []string{"--user", "root", "--", "id", "-u"}},
		// File capabilities instead of a set-id bit: the ids match, only
		// AT_SECURE tells.
		{"rcon", 0o755, []string{"--name", "setid-test", "--user", "root", "--", "id", "-u"}},
		{"capcon", 0o755, []string{"--user", "root", "--", "id", "-u"}},
	} {
		t.Run(c.tool+"-"+c.mode.String(), func(t *testing.T) {
			bin := copyExec(t, filepath.Join(binDir, c.tool), dir, c.tool+"-setid", c.mode)
			t.Cleanup(func() { os.Remove(bin) })
			if c.mode&(os.ModeSetuid|os.ModeSetgid) == 0 {
				setFileCaps(t, bin, 1<<6|1<<7) // cap_setgid, cap_setuid: enough to become root
			}
			cmd := exec.Command(bin, c.args...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			if cmd.ProcessState == nil {
				t.Fatalf("run %s: %v", bin, err)
			}
			checkNoLeak(t, cmd.Process.Pid)
			stateEmpty(t)
			if left := findGroups("setid-test"); len(left) > 0 {
				t.Errorf("groups left: %v", left)
				for _, d := range left {
					killAndRemove(d)
				}
			}
			if strings.TrimSpace(out.String()) == "0" {
				t.Errorf("the command ran as root: stdout %q", out.String())
			}
			if code := cmd.ProcessState.ExitCode(); code != 125 {
				t.Errorf("exit %d, want 125 (stdout %q, stderr %q)", code, out.String(), errb.String())
			}
			msg := errb.String()
			if !strings.HasPrefix(msg, c.tool+": refusing to run") || !strings.Contains(msg, "sudo") || strings.Count(msg, "\n") != 1 {
				t.Errorf("want one line refusing and naming sudo, got %q", msg)
			}
		})
	}
}

// setFileCaps gives path the file capabilities caps, permitted and
// effective (what `setcap CAPS+ep` writes: a VFS_CAP_REVISION_2
// security.capability attribute), or skips where the filesystem has none.
func setFileCaps(t *testing.T, path string, caps uint32) {
	t.Helper()
	v := make([]byte, 20)
	binary.LittleEndian.PutUint32(v[0:], 0x02000000|1) // revision 2, effective
	binary.LittleEndian.PutUint32(v[4:], caps)         // permitted, low word
	if err := unix.Setxattr(path, "security.capability", v, 0); err != nil {
		if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("no file capabilities on %s: %v", path, err)
		}
		t.Fatalf("set file capabilities on %s: %v", path, err)
	}
}
