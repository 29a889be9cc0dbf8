// Package integration runs the built rcon and capcon binaries against the
// real kernel: real cgroups, real capability sets, real namespaces. It
// needs root. The same test binary runs on the host (cgroup v1 here) and
// inside the project's cgroup v2 VM (testvm/), where RCON_BIN_DIR names
// the directory holding the binaries.
package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binDir string

func TestMain(m *testing.M) {
	if helper := os.Getenv("RCON_TEST_HELPER"); helper == "container" {
		os.Exit(containerHelper(os.Args[1:]))
	} else if helper != "" {
		os.Exit(runHelper(helper, os.Args[1:]))
	}
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	binDir = os.Getenv("RCON_BIN_DIR")
	if binDir == "" {
		// Build fresh binaries so the tests never run stale ones.
		tmp, err := os.MkdirTemp("", "rcontest-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tmp)
		for _, b := range []string{"rcon", "capcon"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(tmp, b), "../cmd/"+b)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b, err, out)
				return 1
			}
		}
		binDir = tmp
	}
	// A private state directory: the tests' groups are recorded there and
	// only there, so the leak checks below see exactly our own groups.
	state, err := os.MkdirTemp("", "rcontest-state-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(state)
	os.Setenv("RCON_STATE_DIR", state)
	return m.Run()
}

// result of one tool run.
type result struct {
	Stdout, Stderr string
	Code           int
	Pid            int
}

// tool runs bin/NAME with args and returns its output and exit status.
func tool(t *testing.T, name string, args ...string) result {
	t.Helper()
	r, err := tryTool(t, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryTool is tool for goroutines other than the test's own, where
// t.Fatal is not allowed: it fails only through t.Errorf (leak checks) and
// returns the error of a run that could not start.
func tryTool(t *testing.T, name string, args ...string) (result, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		return result{}, fmt.Errorf("run %s: %w", name, err)
	}
	r := result{Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode(), Pid: cmd.Process.Pid}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r.Code = 128 + int(ws.Signal())
	}
	checkNoLeak(t, r.Pid)
	return r, nil
}

func rcon(t *testing.T, args ...string) result { return tool(t, "rcon", args...) }

// self is the test binary, which doubles as the workload (see helpers_test.go).
func self(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// helperEnv makes the test binary act as a helper when exec'd.
func helperArgs(t *testing.T, helper string, args ...string) []string {
	return append([]string{"env", "RCON_TEST_HELPER=" + helper, self(t)}, args...)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: real cgroups and capabilities")
	}
}

// checkNoLeak fails if a group of the rcon with this pid is still on the
// machine or a state record is left. Groups are named rcon-PID-START by
// default; named groups are checked by the tests that name them.
func checkNoLeak(t *testing.T, pid int) {
	t.Helper()
	if pid == 0 {
		return
	}
	if left := findGroups(fmt.Sprintf("rcon-%d-", pid)); len(left) > 0 {
		t.Errorf("groups left behind by rcon pid %d: %v", pid, left)
		for _, d := range left {
			killAndRemove(d)
		}
	}
}

// findGroups lists cgroup directories whose name starts with prefix, at
// any depth: CI runners nest their jobs' cgroups deeply, and a depth cap
// would hide a leak beneath them.
func findGroups(prefix string) []string {
	var out []string
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		// A scope of the systemd driver is rcon-NAME.scope (in a run
		// slice, rcon-NAME.slice with NAME escaped, which is walked into).
		if strings.HasPrefix(d.Name(), prefix) || (strings.HasPrefix(d.Name(), "rcon-"+prefix) && strings.HasSuffix(d.Name(), ".scope")) {
			out = append(out, p)
			return filepath.SkipDir
		}
		return nil
	})
	return out
}

// killAndRemove cleans up a group a failed test left, so one failure
// does not leak into the machine: it ends the processes in it (they are
// ours: the test started them) and removes the directory.
func killAndRemove(dir string) {
	for i := 0; i < 100; i++ {
		data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		pids := strings.Fields(string(data))
		for _, p := range pids {
			if n, err := strconv.Atoi(p); err == nil {
				syscall.Kill(n, syscall.SIGKILL)
			}
		}
		if os.Remove(dir) == nil || os.IsNotExist(os.Remove(dir)) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The parent goes too if now empty, but only one the project makes:
	// the tests run in cgroups (a CI job's, a session's) that are not ours.
	if p := filepath.Dir(dir); ourParent(filepath.Base(p)) {
		os.Remove(p)
	}
}

// ourParent tells a parent directory name rcon or these tests make.
func ourParent(name string) bool {
	return name == "rcon" || strings.HasPrefix(name, "rcontest-")
}

// stateEmpty fails if a state record is left in the tests' state dir.
func stateEmpty(t *testing.T) {
	t.Helper()
	ents, _ := os.ReadDir(os.Getenv("RCON_STATE_DIR"))
	if len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("state records left: %v", names)
	}
}

func cgroupV2() bool {
	var st syscall.Statfs_t
	return syscall.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == 0x63677270
}

// The tests' own goroutines use every CPU; a helper keeps what its
// environment and limits give it (the gomaxprocs helper reports that).
func init() {
	if os.Getenv("RCON_TEST_HELPER") == "" {
		runtime.GOMAXPROCS(runtime.NumCPU())
	}
}

// statusCase is one row of an exit-status table: a tool's arguments and
// the status they must give.
type statusCase struct {
	name string
	args []string
	want int
}

// checkStatuses runs each case with bin/NAME and checks the status, and
// that the tool's own failures (125-127) come with a message.
func checkStatuses(t *testing.T, name string, cases []statusCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := tool(t, name, c.args...)
			if r.Code != c.want {
				t.Errorf("%s %v: exit %d, want %d (stderr %q)", name, c.args, r.Code, c.want, r.Stderr)
			}
			if c.want >= 125 && c.want <= 127 && !strings.HasPrefix(r.Stderr, name+": ") {
				t.Errorf("no message for status %d: %q", c.want, r.Stderr)
			}
		})
	}
}

// signalAfterReady starts bin/rcon with args around a helper that prints
// "ready" once its handlers are in place, sends rcon sig, and returns the
// helper's next line, rcon's exit status and its stderr.
func signalAfterReady(t *testing.T, sig syscall.Signal, args ...string) (said string, code int, stderr string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "rcon"), args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer checkNoLeak(t, cmd.Process.Pid)
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper did not start: %q %s", sc.Text(), errb.String())
	}
	cmd.Process.Signal(sig)
	sc.Scan()
	said = sc.Text()
	cmd.Wait()
	return said, cmd.ProcessState.ExitCode(), errb.String()
}

// delegateV1 makes, beneath the test's own cgroup in each v1 hierarchy rcon
// uses, a parent group named name owned by uid:gid (with files, such as
// "tasks", owned too), as an administrator delegates one to a service
// user. It returns the directories; at cleanup whatever was made beneath
// them is ended and removed, then they are.
func delegateV1(t *testing.T, name string, uid, gid int, files ...string) []string {
	t.Helper()
	own := ownCgroups(t)
	var parents []string
	t.Cleanup(func() {
		for _, p := range parents {
			ents, _ := os.ReadDir(p)
			for _, d := range ents {
				if d.IsDir() {
					killAndRemove(filepath.Join(p, d.Name()))
				}
			}
			os.Remove(p)
		}
	})
	for _, c := range []string{"cpu", "cpuacct", "memory", "pids", "blkio"} {
		root, err := filepath.EvalSymlinks(filepath.Join("/sys/fs/cgroup", c))
		if err != nil {
			continue
		}
		p := filepath.Join(root, own[c], name)
		if err := os.Mkdir(p, 0o755); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
		parents = append(parents, p)
		for _, f := range append([]string{""}, files...) {
			if err := os.Chown(filepath.Join(p, f), uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	return parents
}
