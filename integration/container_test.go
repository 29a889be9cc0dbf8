package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The shape CI runners and Kubernetes pods give rcon: cgroup v2, a private
// cgroup namespace whose root is the container's group, and that root
// holding the container's processes, so the "no internal processes" rule
// forbids enabling controllers for a child of it. containerHelper is the
// container's entrypoint: it enters new mount and cgroup namespaces, mounts
// cgroup2 as a runtime does, optionally starts another process that stays
// in the root group ("crowded"), then execs rcon with the rest of args.
func containerHelper(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "container: want MODE RCON [ARGS...]")
		return 2
	}
	runtime.LockOSThread() // the namespaces are this thread's, and exec keeps them
	fail := func(what string, err error) int {
		fmt.Fprintf(os.Stderr, "container: %s: %v\n", what, err)
		return 2
	}
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP); err != nil {
		return fail("unshare", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fail("make / private", err)
	}
	// A new mount over the host's one is refused (EBUSY): replace it.
	if err := unix.Unmount("/sys/fs/cgroup", unix.MNT_DETACH); err != nil {
		return fail("unmount the host's cgroup2", err)
	}
	if err := unix.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fail("mount cgroup2", err)
	}
	if args[0] == "crowded" {
		other := exec.Command("sleep", "60")
		if err := other.Start(); err != nil {
			return fail("start the other process", err)
		}
		fmt.Println("other", other.Process.Pid)
	}
	fmt.Println("exec")
	if err := syscall.Exec(args[1], args[1:], os.Environ()); err != nil {
		return fail("exec rcon", err)
	}
	return 0
}

// inContainer runs bin/rcon ARGS as a container's entrypoint (see
// containerHelper) in a fresh group beneath the project's parent, and
// returns its result, the host path of the container's group, and the
// host pid of the other process when crowded. Everything is removed at
// cleanup.
func inContainer(t *testing.T, crowded bool, args ...string) (r result, ctr string, other int) {
	t.Helper()
	project := "/sys/fs/cgroup/rcon"
	madeProject := os.Mkdir(project, 0o755) == nil
	ctr = filepath.Join(project, fmt.Sprintf("rcontest-ctr-%d", os.Getpid()))
	t.Cleanup(func() {
		// Deepest first: whatever rcon made inside, then the container.
		var dirs []string
		filepath.WalkDir(ctr, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			killAndRemove(dirs[i])
		}
		if madeProject {
			os.Remove(project)
		}
	})
	// A runtime gives the container every controller its parent has.
	if err := os.WriteFile(filepath.Join(project, "cgroup.subtree_control"), []byte("+cpu +memory +pids"), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(ctr, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(ctr, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	mode := "alone"
	if crowded {
		mode = "crowded"
	}
	cmd := exec.Command(self(t), append([]string{mode, filepath.Join(binDir, "rcon")}, args...)...)
	cmd.Env = append(os.Environ(), "RCON_TEST_HELPER=container")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	r = result{Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode(), Pid: cmd.Process.Pid}
	sc := bufio.NewScanner(strings.NewReader(r.Stdout))
	for sc.Scan() {
		fmt.Sscanf(sc.Text(), "other %d", &other)
	}
	if other != 0 {
		t.Cleanup(func() { syscall.Kill(other, syscall.SIGKILL) })
	}
	return r, ctr, other
}

func needV2Container(t *testing.T) {
	t.Helper()
	needRoot(t)
	if !cgroupV2() {
		t.Skip("the container shape is cgroup v2 with a cgroup namespace; it runs in the v2 VM (make test-v2)")
	}
}

// Alone in the container's root group (rcon as the entrypoint), rcon
// moves itself, and only itself, into a leaf, enables the controllers,
// runs the command under its limits and leaves the container's group as
// it found it.
func TestContainerEntrypointMovesItselfToALeaf(t *testing.T) {
	needV2Container(t)
	r, ctr, _ := inContainer(t, false, "--cpu", "50", "--pids", "20", "--",
		"sh", "-c", `g=$(cut -d: -f3 /proc/self/cgroup); echo "group $g"; cat "/sys/fs/cgroup$g/cpu.max" "/sys/fs/cgroup$g/pids.max"`)
	if r.Code != 0 {
		t.Fatalf("rcon as a container's only process: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "group /rcon/") || !strings.Contains(r.Stdout, "50000 100000\n20\n") {
		t.Errorf("the command did not run in a limited group of rcon's: %q", r.Stdout)
	}
	ents, _ := os.ReadDir(ctr)
	for _, e := range ents {
		if e.IsDir() {
			t.Errorf("left in the container's group: %s", e.Name())
		}
	}
	if on, _ := os.ReadFile(filepath.Join(ctr, "cgroup.subtree_control")); len(bytes.TrimSpace(on)) != 0 {
		t.Errorf("container's subtree_control left as %q, want it as it was (empty)", on)
	}
}

// With other processes in the container's root group, rcon moves none of
// them and says in one line which rule stops it and what to do.
func TestContainerWithOthersInRootIsRefusedInOneLine(t *testing.T) {
	needV2Container(t)
	r, ctr, other := inContainer(t, true, "--cpu", "50", "--", "true")
	if other == 0 {
		t.Fatalf("the container's other process did not start: %q %q", r.Stdout, r.Stderr)
	}
	if r.Code != 125 {
		t.Errorf("exit %d, want 125; stderr %q", r.Code, r.Stderr)
	}
	msg := strings.TrimSpace(r.Stderr)
	if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "no internal processes") || !strings.Contains(msg, "--parent") {
		t.Errorf("stderr %q: want one line naming the \"no internal processes\" rule and what to do (--parent)", msg)
	}
	procs, _ := os.ReadFile(filepath.Join(ctr, "cgroup.procs"))
	if !strings.Contains(" "+strings.Join(strings.Fields(string(procs)), " ")+" ", fmt.Sprintf(" %d ", other)) {
		t.Errorf("the container's other process %d was moved out of its group (procs %q)", other, procs)
	}
}
