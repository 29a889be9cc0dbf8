package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Descriptors rcon inherited (issue 11): one left open by whoever started
// rcon must not reach the command, where a directory fd outside its
// --tmpfs or --chroot would be a way out. Socket activation's fds
// (LISTEN_FDS, when LISTEN_PID is rcon's) are passed on.

// runWithFDs runs argv with the given files as fds 3, 4, ... (inheritable,
// as a careless parent would leave them) and returns its output and status.
func runWithFDs(t *testing.T, files []*os.File, argv ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.ExtraFiles = files
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

// openDirs opens n fresh directories, named so the command's fd listing
// shows whether they reached it.
func openDirs(t *testing.T, n int) ([]*os.File, []string) {
	t.Helper()
	var files []*os.File
	var names []string
	for i := 0; i < n; i++ {
		d := t.TempDir()
		f, err := os.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		files, names = append(files, f), append(names, d)
	}
	return files, names
}

func TestInheritedFDsDoNotReachCommand(t *testing.T) {
	needRoot(t)
	files, dirs := openDirs(t, 1)
	list := []string{"sh", "-c", "ls -l /proc/self/fd/"}
	for _, c := range []struct {
		name string
		argv []string
	}{
		{"rcon", append([]string{filepath.Join(binDir, "rcon"), "--"}, list...)},
		{"rcon init path", append([]string{filepath.Join(binDir, "rcon"), "--unshare", "pid,mount", "--"}, list...)},
		{"rcon tmpfs", append([]string{filepath.Join(binDir, "rcon"), "--tmpfs", "/tmp", "--"}, list...)},
		{"capcon", append([]string{filepath.Join(binDir, "capcon"), "--keep", "none", "--"}, list...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, code := runWithFDs(t, files, c.argv...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, out)
			}
			if strings.Contains(out, dirs[0]) {
				t.Errorf("the command inherited the fd to %s that rcon was given:\n%s", dirs[0], out)
			}
		})
	}
	stateEmpty(t)
}

// TestSocketActivationFDsArePassed: with LISTEN_PID set to rcon's pid (by
// the shell that execs it) and LISTEN_FDS=1, fd 3 reaches the command and
// fd 4 does not.
func TestSocketActivationFDsArePassed(t *testing.T) {
	needRoot(t)
	files, dirs := openDirs(t, 2)
	out, code := runWithFDs(t, files, "sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -- sh -c 'ls -l /proc/self/fd/'`,
		filepath.Join(binDir, "rcon"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	if !strings.Contains(out, dirs[0]) {
		t.Errorf("the socket-activation fd 3 (%s) did not reach the command:\n%s", dirs[0], out)
	}
	if strings.Contains(out, dirs[1]) {
		t.Errorf("fd 4 (%s), beyond LISTEN_FDS, reached the command:\n%s", dirs[1], out)
	}
}

// TestForgedNSInitIsRefused: _RCON_NS_INIT set by whoever starts rcon must
// not make it the namespace init running a configuration of their choice,
// neither from the variable alone nor with a plain file at the fd it names.
func TestForgedNSInitIsRefused(t *testing.T) {
	needRoot(t)
	// The shell computes the marker, so a message quoting the config
	// does not show it.
	marker := "forged-init-2"
	cfg := `{"spec":{"argv":["/bin/sh","-c","echo forged-init-$((1+1))"],"namespaces":{}},"tool":"rcon"}`
	cfgFile := filepath.Join(t.TempDir(), "cfg.json")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		name  string
		value string
		files []*os.File
	}{
		{"config in the variable", cfg, nil},
		{"fd of a plain file", "3", []*os.File{f}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, tl := range []string{"rcon", "capcon"} {
				out, code := runWithFDs(t, c.files, "env", "_RCON_NS_INIT="+c.value, filepath.Join(binDir, tl), "--", "true")
				if strings.Contains(out, marker) {
					t.Errorf("%s with a forged %s acted as the init and ran its command (exit %d):\n%s", tl, "_RCON_NS_INIT", code, out)
				}
				if code != 125 || !strings.Contains(out, "_RCON_NS_INIT") {
					t.Errorf("%s with a forged _RCON_NS_INIT: exit %d, output %q; want 125 and a message naming the variable", tl, code, out)
				}
			}
		})
	}
	stateEmpty(t)
}
