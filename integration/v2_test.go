package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// delegate builds, beneath the project's own parent group, a subtree
// handed to uid the way systemd delegates one (Delegate=yes): the subtree
// root and its cgroup.procs, cgroup.subtree_control and cgroup.threads
// belong to the user. It returns the subtree root (relative to the
// cgroup root) and removes everything at cleanup.
func delegate(t *testing.T, uid int) string {
	t.Helper()
	root := "/sys/fs/cgroup"
	project := filepath.Join(root, "rcon")
	madeProject := os.Mkdir(project, 0o755) == nil
	sub := filepath.Join(project, "rcontest-deleg")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, d := range []string{"jobs", "caller", ""} {
			killAndRemove(filepath.Join(sub, d))
		}
		if madeProject {
			os.Remove(project)
		}
	})
	must(os.WriteFile(filepath.Join(project, "cgroup.subtree_control"), []byte("+cpu +memory +pids"), 0))
	must(os.Mkdir(sub, 0o755))
	must(os.WriteFile(filepath.Join(sub, "cgroup.subtree_control"), []byte("+cpu +memory +pids"), 0))
	for _, f := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
		must(os.Chown(filepath.Join(sub, f), uid, uid))
	}
	// Where the user's own processes run (a systemd user manager's
	// session scope), and an empty parent for rcon's groups.
	must(os.Mkdir(filepath.Join(sub, "caller"), 0o755))
	must(os.Chown(filepath.Join(sub, "caller"), uid, uid))
	must(os.Chown(filepath.Join(sub, "caller", "cgroup.procs"), uid, uid))
	return "/rcon/rcontest-deleg"
}

// asUser runs bin/rcon as uid, born in the group dir (so it lives inside
// the delegated subtree, as a delegated user's session does).
func asUser(t *testing.T, uid int, bornIn string, env []string, args ...string) result {
	t.Helper()
	fd, err := unix.Open(bornIn, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := exec.Command(filepath.Join(binDir, "rcon"), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}},
		UseCgroupFD: true, CgroupFD: fd,
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Run()
	return result{Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode(), Pid: cmd.Process.Pid}
}

func TestV2DelegatedUnprivileged(t *testing.T) {
	needRoot(t)
	if !cgroupV2() {
		t.Skip("cgroup v1 host: delegation to an unprivileged user is a cgroup v2 feature; this runs in the VM (make test-v2)")
	}
	uid := 1000
	sub := delegate(t, uid)
	bin := publicDir(t) // t.TempDir's parents are 0700: the user could not reach them
	state := filepath.Join(bin, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chown(state, uid, uid)
	helper := copyExec(t, self(t), bin, "helper", 0o755)
	caller := filepath.Join("/sys/fs/cgroup", sub, "caller")
	env := []string{"RCON_STATE_DIR=" + state}

	// Without a delegated parent, one line says why and nothing is made.
	r := asUser(t, uid, caller, env, "--pids", "5", "--", "true")
	if r.Code != 125 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 || !strings.Contains(r.Stderr, "RCON_PARENT") {
		t.Errorf("unprivileged without a parent: exit %d, stderr %q; want 125 and one line naming RCON_PARENT", r.Code, r.Stderr)
	}

	// With the delegated subtree as parent: limits apply, without root.
	env = append(env, "RCON_PARENT="+sub+"/jobs")
	if err := os.Mkdir(filepath.Join("/sys/fs/cgroup", sub, "jobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(filepath.Join("/sys/fs/cgroup", sub, "jobs"), uid, uid)
	for _, f := range []string{"cgroup.procs", "cgroup.subtree_control"} {
		os.Chown(filepath.Join("/sys/fs/cgroup", sub, "jobs", f), uid, uid)
	}
	r = asUser(t, uid, caller, env, "--pids", "5", "--cpu", "50", "--", "env", "RCON_TEST_HELPER=fork", helper, "10")
	var started, failed int
	fmt.Sscanf(r.Stdout, "started=%d failed=%d", &started, &failed)
	if r.Code != 0 || failed == 0 || started >= 5 {
		t.Errorf("delegated rcon --pids 5: exit %d, started %d failed %d, stderr %q", r.Code, started, failed, r.Stderr)
	}
	if left, _ := os.ReadDir(filepath.Join("/sys/fs/cgroup", sub, "jobs")); hasDir(left) {
		t.Errorf("groups left under the delegated parent")
	}
}

func hasDir(ents []os.DirEntry) bool {
	for _, e := range ents {
		if e.IsDir() {
			return true
		}
	}
	return false
}
