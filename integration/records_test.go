package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// inPidNS runs script with sh inside a new pid namespace (capcon, whose
// init is its PID 1), with a fresh /proc when fresh is set (a mount
// namespace too), and returns the result. $RCON is the rcon binary.
func inPidNS(t *testing.T, fresh bool, script string) result {
	t.Helper()
	unshare := "pid"
	if fresh {
		unshare = "pid,mount"
	}
	return tool(t, "capcon", "--unshare", unshare, "--", "env", "RCON="+filepath.Join(binDir, "rcon"), "sh", "-c", script)
}

// TestOwnersAcrossPidNamespaces: an rcon inside a pid namespace with a
// fresh /proc sees none of the host's rcons, and one with the host's
// /proc sees the host's pids under its own getpid(). Neither may judge
// the other's owners by the wrong pids: a live host member of a shared
// group must not be dropped by a joiner (or a sweep) inside, and a run
// killed inside must be collectable from the host (it was recorded as
// "pid 2", the host's kthreadd, alive for ever).
func TestOwnersAcrossPidNamespaces(t *testing.T) {
	needRoot(t)
	shared := fmt.Sprintf("rcontest-pidns-%d", os.Getpid())
	orphIn := fmt.Sprintf("rcontest-pidns-in-%d", os.Getpid())
	orphHost := fmt.Sprintf("rcontest-pidns-host-%d", os.Getpid())
	named := fmt.Sprintf("rcontest-pidns-named-%d", os.Getpid())
	for _, n := range []string{shared, orphIn, orphHost, named} {
		cleanupGroup(t, n)
	}
	_, pid := startRcon(t, append([]string{"--shared", shared, "--cpu", "30", "--"}, helperArgs(t, "ready", "30")...)...)
	_, namedPid := startRcon(t, append([]string{"--name", named, "--"}, helperArgs(t, "ready", "30")...)...)

	// Inside, with a fresh /proc: a start-up sweep, a join and leave of
	// the host's shared group, then an orphan of the namespace's own
	// (its rcon killed, its command left running) that gc --kill must
	// still collect.
	// On a systemd host the shared group is a scope, which systemd
	// moves pids into by its own pid namespace's numbers: a joiner in
	// another one is refused, in one line, and the rest works as on
	// cgroupfs (the runs inside fall back to it).
	sg := psGroupNamed(t, shared)
	isScope := sg != nil && len(sg.Paths) == 1 && strings.HasSuffix(sg.Paths[0], ".scope")
	r := inPidNS(t, true, `grep NSpid /proc/self/status
		"$RCON" --cpu 50 -- true || echo "plain run failed"
		"$RCON" --shared `+shared+` -- true || echo "join refused"
		"$RCON" --name `+orphIn+` -- sh -c 'kill -9 $PPID; exec sleep 30'
		"$RCON" gc --kill`)
	if strings.Contains(r.Stdout, "failed") || strings.Count(strings.TrimPrefix(r.Stdout, "NSpid:"), "\t") > 1 {
		t.Errorf("runs inside a fresh pid namespace: %q %q", r.Stdout, r.Stderr)
	}
	if refused := strings.Contains(r.Stdout, "join refused"); refused != isScope || (isScope && !strings.Contains(r.Stderr, "is a systemd scope")) {
		t.Errorf("join inside a fresh pid namespace (the group a scope: %v): %q %q", isScope, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "removed "+orphIn) {
		t.Errorf("gc --kill inside the namespace did not collect its own orphan %s: %q %q", orphIn, r.Stdout, r.Stderr)
	}
	if strings.Contains(r.Stdout, shared) {
		t.Errorf("gc inside the namespace judged the host's group %s: %q", shared, r.Stdout)
	}
	if !strings.Contains(r.Stdout, "left "+named+" alone") {
		t.Errorf("gc inside the namespace did not say it left the host's run %s alone: %q", named, r.Stdout)
	}
	if ok, why := inGroup(namedPid, named); !ok {
		t.Errorf("the host's named run: %s", why)
	}
	g := psGroupNamed(t, shared)
	switch {
	case g == nil:
		t.Errorf("the host's shared group %s lost its record", shared)
	case len(g.Members) != 1 || !g.Members[0].Alive:
		t.Errorf("the host's shared group %s: members %+v; want its live host member only", shared, g.Members)
	}
	if ok, why := inGroup(pid, shared); !ok {
		t.Errorf("the host's command left its group: %s", why)
	}

	// Inside, with the host's /proc: a run killed there leaves a record
	// the host's gc must be able to judge dead.
	inPidNS(t, false, `"$RCON" --name `+orphHost+` -- sh -c 'kill -9 $PPID; exec sleep 30'`)
	r = rcon(t, "gc", "--kill")
	if !strings.Contains(r.Stdout, "removed "+orphHost) {
		t.Errorf("host gc did not collect %s, killed inside a pid namespace with the host's /proc: %q %q", orphHost, r.Stdout, r.Stderr)
	}
}

// tenants is one non-root uid owning a delegated parent group and its own
// state directory, the way CGI tenants run under one www-data: every
// tenant's rcon and script have that uid.
type tenants struct {
	uid         int
	rcon        string // a copy the uid can run
	helper      string // the test binary, likewise
	state       string
	env         []string
	bornIn      string   // v2: the delegated cgroup the user's rcons start in
	parentDirs  []string // where the tenants' groups are made
	parentGiven string
}

func newTenants(t *testing.T) *tenants {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	e := &tenants{uid: 4251}
	pub := publicDir(t)
	e.rcon = copyExec(t, filepath.Join(binDir, "rcon"), pub, "rcon", 0o755)
	e.helper = copyExec(t, self(t), pub, "helper", 0o755)
	e.state = filepath.Join(pub, "state")
	must(os.Mkdir(e.state, 0o700))
	must(os.Chown(e.state, e.uid, e.uid))
	if cgroupV2() {
		sub := delegate(t, e.uid)
		jobs := filepath.Join("/sys/fs/cgroup", sub, "jobs")
		must(os.Mkdir(jobs, 0o755))
		for _, f := range []string{"", "cgroup.procs", "cgroup.subtree_control"} {
			must(os.Chown(filepath.Join(jobs, f), e.uid, e.uid))
		}
		e.bornIn = filepath.Join("/sys/fs/cgroup", sub, "caller")
		e.parentDirs = []string{jobs}
		e.parentGiven = sub + "/jobs"
	} else {
		// v1: a parent beneath the test's own cgroup in each hierarchy,
		// owned by the uid, named relatively (as apache_test.go does).
		e.parentGiven = fmt.Sprintf("rcontest-tenants-%d", os.Getpid())
		e.parentDirs = delegateV1(t, e.parentGiven, e.uid, e.uid)
	}
	if cgroupV2() {
		// delegate removes the subtree, once what rcon left in jobs is gone
		// (delegateV1 does both on v1).
		t.Cleanup(func() {
			ents, _ := os.ReadDir(e.parentDirs[0])
			for _, d := range ents {
				if d.IsDir() {
					killAndRemove(filepath.Join(e.parentDirs[0], d.Name()))
				}
			}
		})
	}
	e.env = append(os.Environ(), "RCON_STATE_DIR="+e.state, "RCON_PARENT="+e.parentGiven, "H="+e.helper)
	return e
}

// cmd is bin/rcon with args as the tenants' uid.
func (e *tenants) cmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(e.rcon, args...)
	cmd.Env = e.env
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(e.uid), Gid: uint32(e.uid), Groups: []uint32{}}}
	if e.bornIn != "" {
		fd, err := unix.Open(e.bornIn, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	}
	return cmd
}

func (e *tenants) run(t *testing.T, args ...string) result {
	t.Helper()
	cmd := e.cmd(t, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Run()
	return result{Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode()}
}

// startB starts tenant B: a shared group holding a helper that says
// "ready PID" and sleeps. It returns the helper's pid and B's rcon's.
func (e *tenants) startB(t *testing.T, name string) (int, int) {
	t.Helper()
	cmd := e.cmd(t, "--shared", name, "--", "env", "RCON_TEST_HELPER=ready", e.helper, "30")
	pid := startReady(t, cmd)
	return pid, cmd.Process.Pid
}

// intact fails unless tenant B's group, record and process are as they
// were: its helper alive inside the group, its record naming it.
func (e *tenants) intact(t *testing.T, name string, pid, member int) {
	t.Helper()
	if err := syscall.Kill(pid, 0); err != nil {
		t.Errorf("tenant B's process %d: %v", pid, err)
	} else if ok, why := inGroup(pid, name); !ok {
		t.Errorf("tenant B's process left its group: %s", why)
	}
	data, err := os.ReadFile(filepath.Join(e.state, name+".json"))
	if err != nil || !strings.Contains(string(data), fmt.Sprintf(`"members":[{"pid":%d,`, member)) {
		t.Errorf("tenant B's record: %v %s", err, data)
	}
	for _, p := range e.parentDirs {
		if _, err := os.Stat(filepath.Join(p, name)); err != nil {
			t.Errorf("tenant B's group: %v", err)
		}
	}
}

// TestForgedRecordIsRefused: tenant A's script, of the same uid as its
// rcon and without namespaces, rewrites its shared group's record to name
// tenant B's group. When A's run leaves (last member out: it ends what
// is in the group and removes it) it must not act on B's group: the
// record is refused, loudly, and B's group and process stay.
func TestForgedRecordIsRefused(t *testing.T) {
	needRoot(t)
	e := newTenants(t)
	a := fmt.Sprintf("rcontest-forgeA-%d", os.Getpid())
	b := fmt.Sprintf("rcontest-forgeB-%d", os.Getpid())
	t.Cleanup(func() {
		for _, n := range []string{a, b} {
			for _, ext := range []string{".json", ".lock"} {
				os.Remove(filepath.Join(e.state, n+ext))
			}
		}
	})
	pid, member := e.startB(t, b)
	forge := fmt.Sprintf(`sed -i 's#/%s"#/%s"#g' "$RCON_STATE_DIR/%s.json" && grep -c %s "$RCON_STATE_DIR/%s.json"`, a, b, a, b, a)
	r := e.run(t, "--shared", a, "--", "sh", "-c", forge)
	if !strings.Contains(r.Stdout, "1") {
		t.Fatalf("the script could not rewrite its record (%q %q): the test shows nothing", r.Stdout, r.Stderr)
	}
	if r.Code != 125 || !strings.Contains(r.Stderr, "record refused") {
		t.Errorf("tenant A leaving with a forged record: exit %d, %q; want 125 and the record refused", r.Code, r.Stderr)
	}
	e.intact(t, b, pid, member)
	r = e.run(t, "gc")
	if r.Code == 0 || !strings.Contains(r.Stderr, a) || !strings.Contains(r.Stderr, "record refused") {
		t.Errorf("rcon gc over the forged record: exit %d, %q %q; want it reported", r.Code, r.Stdout, r.Stderr)
	}
	e.intact(t, b, pid, member)
}

// TestStateDirHiddenFromNamespacedCommand: with the CGI tenant's
// namespaces (user, mount, pid, cgroup; no capability), the script sees
// the state directory empty and read-only: it can neither rewrite its
// own record nor create and flock another tenant's lock file (which would
// stall that tenant's every start and exit).
func TestStateDirHiddenFromNamespacedCommand(t *testing.T) {
	needRoot(t)
	e := newTenants(t)
	a := fmt.Sprintf("rcontest-hideA-%d", os.Getpid())
	b := fmt.Sprintf("rcontest-hideB-%d", os.Getpid())
	cleanupGroup(t, a)
	pid, member := e.startB(t, b)
	script := fmt.Sprintf(`S="$RCON_STATE_DIR"
		echo "seen: $(ls -A "$S")"
		sed -i 's#/%[1]s"#/%[2]s"#g' "$S/%[1]s.json" 2>/dev/null && echo "FORGED record"
		( : >"$S/%[2]s.lock" ) 2>/dev/null && echo "CREATED lock"
		( exec 3<"$S/%[2]s.lock" ) 2>/dev/null && echo "OPENED lock"
		( : >"$S/new.json" ) 2>/dev/null && echo "WROTE state dir"
		echo done`, a, b)
	r := e.run(t, "--shared", a, "--unshare", "user,mount,pid,cgroup", "--map-user", "--tmpfs", "/sys/fs/cgroup", "--keep", "none", "--", "sh", "-c", script)
	if r.Code != 0 || !strings.Contains(r.Stdout, "done") {
		t.Fatalf("namespaced tenant A: exit %d, %q %q", r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "seen: \n") || strings.Contains(r.Stdout, "FORGED") || strings.Contains(r.Stdout, "CREATED") ||
		strings.Contains(r.Stdout, "OPENED") || strings.Contains(r.Stdout, "WROTE") {
		t.Errorf("the state directory inside the namespaces: %q; want it empty and unwritable", r.Stdout)
	}
	e.intact(t, b, pid, member)
	if _, err := os.Stat(filepath.Join(e.state, "new.json")); err == nil {
		t.Errorf("the script wrote into the state directory")
	}
}
