package integration

// Issue 3's "Done when": capcon (and rcon's --keep/--drop/--user) on the
// real kernel. Every claim is read from /proc/self/status of the program
// capcon exec'd, and cross-checked with libcap's capsh and getpcaps when
// they are installed (the cgroup v2 VM has only busybox: then the
// cross-checks are skipped with a log line, the /proc checks still run;
// under CI=true a missing tool fails, see libcap).

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	netBindService = "0000000000000400" // 1 << CAP_NET_BIND_SERVICE (10)
	noCaps         = "0000000000000000"
	nobody         = "65534"
)

// statusCmd prints the lines of /proc/self/status the tests look at; the
// program reading it is the one capcon exec'd (grep is, on busybox too).
var statusCmd = []string{"grep", "-E", "^(Uid|Gid|Cap[A-Za-z]+|NoNewPrivs):", "/proc/self/status"}

func capcon(t *testing.T, args ...string) result { return tool(t, "capcon", args...) }

// statusFields parses "Key:\tvalue" lines; values keep their inner tabs
// collapsed to single spaces ("Uid" -> "65534 65534 65534 65534").
func statusFields(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return m
}

// checkStatus asserts the exact uid, every capability set and NoNewPrivs
// in the output of statusCmd.
func checkStatus(t *testing.T, out, uid, set string, nnp bool) {
	t.Helper()
	st := statusFields(out)
	want := map[string]string{
		"Uid":    strings.Repeat(uid+" ", 3) + uid,
		"CapInh": set, "CapPrm": set, "CapEff": set, "CapBnd": set, "CapAmb": set,
		"NoNewPrivs": "0",
	}
	if nnp {
		want["NoNewPrivs"] = "1"
	}
	for _, k := range []string{"Uid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"} {
		if st[k] != want[k] {
			t.Errorf("%s: %q, want %q\nfull status:\n%s", k, st[k], want[k], out)
		}
	}
}

// libcap returns the path of a libcap tool (capsh, getpcaps, setcap), or
// "" after logging why the cross-check is skipped. Under CI=true (.ci/run
// sets it, and installs libcap2-bin) a missing tool fails the test
// instead: there the cross-checks must not vanish silently. The v2 VM,
// which has only busybox, is not given CI.
func libcap(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		if p := filepath.Join(d, name); unix.Access(p, unix.X_OK) == nil {
			return p
		}
	}
	if inCI() {
		t.Fatalf("libcap's %s is not installed (package libcap2-bin), and CI=true requires the cross-check", name)
	}
	t.Logf("libcap's %s is not installed (package libcap2-bin): cross-check skipped", name)
	return ""
}

// capshDecode cross-checks a hex set with `capsh --decode`.
func capshDecode(t *testing.T, hex, wantNames string) {
	t.Helper()
	capsh := libcap(t, "capsh")
	if capsh == "" {
		return
	}
	out, err := exec.Command(capsh, "--decode="+hex).CombinedOutput()
	if got, want := strings.TrimSpace(string(out)), "0x"+hex+"="+wantNames; err != nil || got != want {
		t.Errorf("capsh --decode=%s: %q (%v), want %q", hex, got, err, want)
	}
}

// publicDir makes a directory that uid 65534 can enter and run programs
// from, on a mount that honours setuid bits (/tmp if it is neither nosuid
// nor noexec, else a directory beside this package), removed at the end.
// go test's own temp dirs (binaries, t.TempDir) are 0700, so nobody could
// not exec anything there.
func publicDir(t *testing.T) string {
	t.Helper()
	var why []string
	for _, base := range []string{os.TempDir(), "."} {
		abs, err := filepath.Abs(base)
		if err != nil {
			continue
		}
		var st unix.Statfs_t
		if err := unix.Statfs(abs, &st); err != nil {
			why = append(why, fmt.Sprintf("%s: %v", abs, err))
			continue
		}
		if st.Flags&(unix.ST_NOSUID|unix.ST_NOEXEC) != 0 {
			why = append(why, abs+" is on a nosuid or noexec mount")
			continue
		}
		if p := untraversable(abs); p != "" {
			why = append(why, p+" is not searchable by others")
			continue
		}
		d, err := os.MkdirTemp(abs, ".rcontest-caps-")
		if err != nil {
			why = append(why, err.Error())
			continue
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	t.Skipf("no directory for programs run as nobody: %s", strings.Join(why, "; "))
	return ""
}

// untraversable returns the first directory on the way to dir that others
// cannot search, or "".
func untraversable(dir string) string {
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return p
		}
		if p == "/" {
			return ""
		}
	}
}

// copyExec copies the program src into dir as name with mode (which may
// include os.ModeSetuid) and checks the mode really is that.
func copyExec(t *testing.T, src, dir, name string, mode os.FileMode) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name)
	if err := os.WriteFile(dst, data, 0o700); err != nil {
		t.Fatal(err)
	}
	// os.Chmod takes Go's mode bits: 0o4755 would not set the setuid bit.
	if err := os.Chmod(dst, mode); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode() != mode {
		t.Fatalf("%s: mode %v (%v), want %v", dst, fi.Mode(), err, mode)
	}
	return dst
}

// publicHelper is a copy of the test binary that nobody may run; args run
// it as the helper name.
func publicHelper(t *testing.T, dir, helper string, args ...string) []string {
	t.Helper()
	bin := filepath.Join(dir, "helper")
	if _, err := os.Stat(bin); err != nil {
		bin = copyExec(t, self(t), dir, "helper", 0o755)
	}
	return append([]string{"env", "RCON_TEST_HELPER=" + helper, bin}, args...)
}

// privilegedPort returns a free loopback TCP port below the kernel's
// ip_unprivileged_port_start: 80 if free.
func privilegedPort(t *testing.T) int {
	t.Helper()
	limit := 1024
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && n < limit {
			limit = n
		}
	}
	var cands []int
	for p := 80; p < limit; p++ {
		cands = append(cands, p)
	}
	for p := 79; p >= 1 && p < limit; p-- {
		cands = append(cands, p)
	}
	for _, p := range cands {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Skipf("no free port below ip_unprivileged_port_start=%d: cannot show EACCES", limit)
	return 0
}

func TestCapconKeepAsRootPrunesEverySet(t *testing.T) {
	needRoot(t)
	r := capcon(t, append([]string{"--keep", "net_bind_service", "--"}, statusCmd...)...)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	checkStatus(t, r.Stdout, "0", netBindService, true)
	capshDecode(t, statusFields(r.Stdout)["CapEff"], "cap_net_bind_service")

	// The same state as libcap sees it from inside, securebits included:
	// root cannot regain anything through a further exec.
	if capsh := libcap(t, "capsh"); capsh != "" {
		r := capcon(t, "--keep", "net_bind_service", "--", capsh, "--print")
		for _, want := range []string{
			"Current: cap_net_bind_service=eip\n",
			"Bounding set =cap_net_bind_service\n",
			"Ambient set =cap_net_bind_service\n",
			"(no-new-privs=1)",
			"secure-noroot: yes (locked)",
			"uid=0(root) euid=0(root)",
		} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("capsh --print under capcon lacks %q:\n%s%s", want, r.Stdout, r.Stderr)
			}
		}
	}
}

func TestCapconUserNobodyKeepBindsPrivilegedPort(t *testing.T) {
	needRoot(t)
	dir := publicDir(t)
	port := privilegedPort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	r := capcon(t, append([]string{"--user", "nobody", "--keep", "net_bind_service", "--"}, statusCmd...)...)
	if r.Code != 0 {
		t.Fatalf("status: exit %d: %s", r.Code, r.Stderr)
	}
	checkStatus(t, r.Stdout, nobody, netBindService, true)

	r = capcon(t, append([]string{"--user", "nobody", "--keep", "net_bind_service", "--"}, publicHelper(t, dir, "bind", addr)...)...)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "bound" {
		t.Errorf("nobody with net_bind_service binding %s: exit %d, stdout %q, stderr %q; want \"bound\"", addr, r.Code, r.Stdout, r.Stderr)
	}
	// Control: the same program, user and port without the capability.
	r = capcon(t, append([]string{"--user", "nobody", "--"}, publicHelper(t, dir, "bind", addr)...)...)
	if want := fmt.Sprintf("listen tcp %s: bind: permission denied", addr); r.Code != 1 || strings.TrimSpace(r.Stdout) != want {
		t.Errorf("nobody without the keep binding %s: exit %d, stdout %q, stderr %q; want exit 1 and %q", addr, r.Code, r.Stdout, r.Stderr, want)
	}
}

func TestCapconLiveProcessGetpcapsAndShowJSON(t *testing.T) {
	needRoot(t)
	dir := publicDir(t)
	args := append([]string{"--user", "nobody", "--keep", "net_bind_service", "--"}, publicHelper(t, dir, "ready", "20")...)
	cmd := exec.Command(filepath.Join(binDir, "capcon"), args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	helperPid := 0
	t.Cleanup(func() {
		if cmd.ProcessState != nil {
			return
		}
		// Ours only: capcon (our child, not yet waited for) and the
		// helper it started, by pid.
		if helperPid != 0 {
			syscall.Kill(helperPid, syscall.SIGKILL)
		}
		cmd.Process.Kill()
		cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatalf("helper printed nothing: %v", sc.Err())
	}
	if _, err := fmt.Sscanf(sc.Text(), "ready %d", &helperPid); err != nil || helperPid <= 0 {
		t.Fatalf("helper said %q, want \"ready PID\"", sc.Text())
	}

	if getpcaps := libcap(t, "getpcaps"); getpcaps != "" {
		got, err := exec.Command(getpcaps, strconv.Itoa(helperPid)).CombinedOutput()
		if want := fmt.Sprintf("%d: cap_net_bind_service=eip", helperPid); err != nil || strings.TrimSpace(string(got)) != want {
			t.Errorf("getpcaps %d: %q (%v), want %q", helperPid, got, err, want)
		}
	}

	r := capcon(t, "show", "--json", strconv.Itoa(helperPid))
	if r.Code != 0 {
		t.Fatalf("capcon show --json %d: exit %d: %s", helperPid, r.Code, r.Stderr)
	}
	type set struct {
		Hex   string   `json:"hex"`
		Names []string `json:"names"`
	}
	var j struct {
		Pid         int             `json:"pid"`
		Uid         [4]int          `json:"uid"`
		Gid         [4]int          `json:"gid"`
		NoNewPrivs  bool            `json:"no_new_privs"`
		Securebits  json.RawMessage `json:"securebits"`
		Inheritable set             `json:"inheritable"`
		Permitted   set             `json:"permitted"`
		Effective   set             `json:"effective"`
		Bounding    set             `json:"bounding"`
		Ambient     set             `json:"ambient"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &j); err != nil {
		t.Fatalf("capcon show --json is not JSON: %v\n%s", err, r.Stdout)
	}
	if j.Pid != helperPid || j.Uid != [4]int{65534, 65534, 65534, 65534} || !j.NoNewPrivs ||
		string(j.Securebits) != "null" {
		t.Errorf("capcon show --json %d: pid %d uid %v no_new_privs %v securebits %s; want %d, all 65534, true, null (not readable for another process)",
			helperPid, j.Pid, j.Uid, j.NoNewPrivs, j.Securebits, helperPid)
	}
	for name, s := range map[string]set{"inheritable": j.Inheritable, "permitted": j.Permitted,
		"effective": j.Effective, "bounding": j.Bounding, "ambient": j.Ambient} {
		if s.Hex != netBindService || len(s.Names) != 1 || s.Names[0] != "cap_net_bind_service" {
			t.Errorf("show --json: %s = %+v, want %s [cap_net_bind_service]", name, s, netBindService)
		}
	}

	// End it through capcon, which passes SIGTERM on to the command.
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		syscall.Kill(helperPid, syscall.SIGKILL)
		<-done
		t.Errorf("SIGTERM to capcon did not end the command")
	}
	if code := exitCode(cmd.ProcessState); code != 143 {
		t.Errorf("capcon ended by SIGTERM of its command: exit %d, want 143", code)
	}
	checkNoLeak(t, cmd.Process.Pid)
}

func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

func TestCapconSetuidRootBinaryStaysNobody(t *testing.T) {
	needRoot(t)
	idPath, err := exec.LookPath("id")
	if err != nil {
		t.Skip("no id program")
	}
	dir := publicDir(t)
	if real, _ := filepath.EvalSymlinks(idPath); filepath.Base(real) == "busybox" {
		// busybox drops setuid privileges by itself (the v2 VM's id is
		// busybox), so the control below could never pass with it.
		setuidHelperStaysNobody(t, dir)
		return
	}
	id := copyExec(t, idPath, dir, "id", 0o755|os.ModeSetuid)
	if fi, _ := os.Stat(id); fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatalf("%s is not owned by root", id)
	}

	r := capcon(t, "--user", "nobody", "--", id)
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "uid=65534(") || strings.Contains(r.Stdout, "euid=") {
		t.Errorf("setuid-root id under capcon --user nobody: exit %d, %q %q; want uid=65534 and no euid= (euid = uid)", r.Code, r.Stdout, r.Stderr)
	}
	if r := capcon(t, "--user", "nobody", "--", id, "-u"); strings.TrimSpace(r.Stdout) != nobody {
		t.Errorf("id -u (the effective uid) under capcon --user nobody: %q %q, want 65534", r.Stdout, r.Stderr)
	}
	// Control: without no_new_privs the setuid bit works on this mount,
	// so the assertions above can fail.
	r = capcon(t, "--user", "nobody", "--allow-new-privs", "--", id)
	if r.Code != 0 || !strings.Contains(r.Stdout, " euid=0(") {
		t.Errorf("control with --allow-new-privs: exit %d, %q %q; want euid=0", r.Code, r.Stdout, r.Stderr)
	}
	if r := capcon(t, "--user", "nobody", "--allow-new-privs", "--", id, "-u"); strings.TrimSpace(r.Stdout) != "0" {
		t.Errorf("control id -u with --allow-new-privs: %q %q, want 0", r.Stdout, r.Stderr)
	}
}

// setuidHelperStaysNobody is the setuid test with a setuid-root copy of
// the test binary (helper "ids") in place of id.
func setuidHelperStaysNobody(t *testing.T, dir string) {
	bin := copyExec(t, self(t), dir, "ids", 0o755|os.ModeSetuid)
	run := func(extra ...string) string {
		args := append(extra, "--user", "nobody", "--", "env", "RCON_TEST_HELPER=ids", bin)
		r := capcon(t, args...)
		if r.Code != 0 {
			t.Fatalf("capcon %v: exit %d %q", args, r.Code, r.Stderr)
		}
		return strings.TrimSpace(r.Stdout)
	}
	if got := run(); got != "uid=65534 euid=65534" {
		t.Errorf("setuid-root program under capcon --user nobody: %q, want uid=65534 euid=65534", got)
	}
	if got := run("--allow-new-privs"); got != "uid=65534 euid=0" {
		t.Errorf("control with --allow-new-privs: %q, want uid=65534 euid=0", got)
	}
}

func TestCapconDropAllDeniesRootOthersFiles(t *testing.T) {
	needRoot(t)
	locked := filepath.Join(t.TempDir(), "locked")
	if err := os.Mkdir(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(locked, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(locked, "f")
	write := []string{"sh", "-c", `echo x > "$1"`, "sh", file}

	r := capcon(t, append([]string{"--drop", "all", "--"}, statusCmd...)...)
	checkStatus(t, r.Stdout, "0", noCaps, true)

	r = capcon(t, append([]string{"--drop", "all", "--"}, write...)...)
	if r.Code == 0 || !strings.Contains(strings.ToLower(r.Stderr), "permission denied") {
		t.Errorf("root with --drop all writing into a 0700 dir of uid 65534: exit %d, stderr %q; want permission denied", r.Code, r.Stderr)
	}
	if _, err := os.Lstat(file); err == nil {
		t.Errorf("%s was created under --drop all", file)
	}
	// Control: plain root can.
	if out, err := exec.Command(write[0], write[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("control: root without capcon cannot write %s: %v %s", file, err, out)
	}
	if _, err := os.Lstat(file); err != nil {
		t.Errorf("control: %v", err)
	}
}

// asNobody runs a copy of a tool as uid/gid 65534 with no capabilities
// (what setpriv --reuid 65534 --regid 65534 --clear-groups does: a setuid
// from root clears permitted, effective and ambient).
func asNobody(t *testing.T, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if cmd.ProcessState == nil {
		t.Fatalf("run %s as nobody: %v", bin, err)
	}
	return result{Stdout: out.String(), Stderr: errb.String(), Code: exitCode(cmd.ProcessState), Pid: cmd.Process.Pid}
}

func TestCapconRefusals(t *testing.T) {
	needRoot(t)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--keep", "bogus"}, []string{"bogus"}},
		{[]string{"--drop", "net_raw,bogus2"}, []string{"bogus2"}},
		{[]string{"--keep", "net_raw", "--drop", "sys_admin"}, []string{"--keep", "--drop"}},
		{[]string{"--no-new-privs", "--allow-new-privs"}, []string{"--no-new-privs", "--allow-new-privs"}},
	} {
		r := capcon(t, append(c.args, "--", "true")...)
		ok := r.Code == 125 && strings.HasPrefix(r.Stderr, "capcon: ")
		for _, w := range c.want {
			ok = ok && strings.Contains(r.Stderr, w)
		}
		if !ok {
			t.Errorf("capcon %v: exit %d stderr %q; want 125 naming %q", c.args, r.Code, r.Stderr, c.want)
		}
	}

	// An unprivileged caller cannot keep what it does not hold, but can
	// drop what it has.
	pub := copyExec(t, filepath.Join(binDir, "capcon"), publicDir(t), "capcon", 0o755)
	r := asNobody(t, pub, "--keep", "sys_admin", "--", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, "sys_admin") || !strings.Contains(r.Stderr, "not held") {
		t.Errorf("nobody: capcon --keep sys_admin: exit %d stderr %q; want 125 naming cap_sys_admin as not held", r.Code, r.Stderr)
	}
	r = asNobody(t, pub, append([]string{"--drop", "net_raw", "--"}, statusCmd...)...)
	if r.Code != 0 {
		t.Errorf("nobody: capcon --drop net_raw: exit %d stderr %q; want 0", r.Code, r.Stderr)
	}
	st := statusFields(r.Stdout)
	if st["Uid"] != "65534 65534 65534 65534" || st["CapEff"] != noCaps || st["CapPrm"] != noCaps || st["NoNewPrivs"] != "1" {
		t.Errorf("nobody: capcon --drop net_raw ran the command with:\n%s", r.Stdout)
	}
}

func TestCapconExitStatuses(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	noexec := filepath.Join(dir, "script")
	os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644)
	// Runnable by root, but not by nobody: 0700 in a 0700 directory.
	private := filepath.Join(dir, "private")
	os.WriteFile(private, []byte("#!/bin/sh\nexit 0\n"), 0o700)
	checkStatuses(t, "capcon", []statusCase{
		{"success", []string{"--", "true"}, 0},
		{"own status", []string{"--", "sh", "-c", "exit 7"}, 7},
		{"own status keep none", []string{"--keep", "none", "--", "sh", "-c", "exit 7"}, 7},
		{"own status as nobody", []string{"--user", "nobody", "--keep", "net_bind_service", "--", "sh", "-c", "exit 7"}, 7},
		{"not executable", []string{"--", noexec}, 126},
		{"a directory", []string{"--drop", "all", "--", dir}, 126},
		{"not executable for the user", []string{"--user", "nobody", "--", private}, 126},
		{"not found", []string{"--", "no-such-command-rcontest"}, 127},
		{"not found path", []string{"--keep", "none", "--", "/no/such/file"}, 127},
		{"bad flag", []string{"--bogus", "--", "true"}, 125},
		{"no command", []string{"--keep", "none"}, 125},
		{"SIGINT", []string{"--", "sh", "-c", "kill -INT $$"}, 130},
		{"SIGTERM", []string{"--keep", "none", "--", "sh", "-c", "kill -TERM $$"}, 143},
		{"shell form", []string{"--command", "exit 9"}, 9},
	})
}

func TestRconCapsWithLimits(t *testing.T) {
	needRoot(t)
	script := fmt.Sprintf("grep -E '%s' /proc/self/status; cat /proc/self/cgroup", statusCmd[2])
	r := rcon(t, "--cpu", "20", "--keep", "net_bind_service", "--user", "nobody", "--", "sh", "-c", script)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	checkStatus(t, r.Stdout, nobody, netBindService, true)
	// The command ran inside rcon's own group (rcon-PID-START).
	if !strings.Contains(r.Stdout, fmt.Sprintf("/rcon-%d-", r.Pid)) {
		t.Errorf("command not in rcon's group rcon-%d-*:\n%s", r.Pid, r.Stdout)
	}
	// tool() has checked that the group is gone.
}

func TestCapconShowNamesSets(t *testing.T) {
	needRoot(t)
	// capcon show run under capcon: its own sets, securebits and flags.
	r := capcon(t, "--keep", "net_raw,NET_BIND_SERVICE", "--", filepath.Join(binDir, "capcon"), "show")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	const both = "0x0000000000002400=cap_net_bind_service,cap_net_raw"
	for _, want := range []string{
		"pid:          self (capcon)\n",
		"uid:          0 0 0 0 (real effective saved fs)\n",
		"no_new_privs: 1\n",
		"securebits:   0x3 noroot,noroot_locked\n",
		"CapInh:       " + both + "\n",
		"CapPrm:       " + both + "\n",
		"CapEff:       " + both + "\n",
		"CapBnd:       " + both + "\n",
		"CapAmb:       " + both + "\n",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("capcon show under --keep net_raw,NET_BIND_SERVICE lacks %q:\n%s", want, r.Stdout)
		}
	}
	capshDecode(t, "0000000000002400", "cap_net_bind_service,cap_net_raw")

	// Plain capcon show (root's full sets): every set's names are what
	// capsh --decode says for its hex.
	r = capcon(t, "show")
	if r.Code != 0 {
		t.Fatalf("capcon show: exit %d: %s", r.Code, r.Stderr)
	}
	n := 0
	for _, line := range strings.Split(r.Stdout, "\n") {
		k, v, _ := strings.Cut(line, ":")
		if !strings.HasPrefix(k, "Cap") {
			continue
		}
		n++
		hex, names, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(v), "0x"), "=")
		if !ok || len(hex) != 16 {
			t.Errorf("capcon show: bad line %q", line)
			continue
		}
		capshDecode(t, hex, names)
		if k == "CapBnd" && !strings.Contains(names, "cap_sys_admin") {
			t.Errorf("root's bounding set without cap_sys_admin: %q", line)
		}
	}
	if n != 5 {
		t.Errorf("capcon show printed %d capability sets, want 5:\n%s", n, r.Stdout)
	}
}

// groupDB parses /etc/group: gid by name and the member lists, which is
// what Go's pure (CGO_ENABLED=0) user package reads too.
func groupDB(t *testing.T) (gids map[string]int, members map[string][]int) {
	t.Helper()
	data, err := os.ReadFile("/etc/group")
	if err != nil {
		t.Skipf("no /etc/group: %v", err)
	}
	gids, members = map[string]int{}, map[string][]int{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) != 4 {
			continue
		}
		gid, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		gids[f[0]] = gid
		for _, m := range strings.Split(f[3], ",") {
			if m != "" {
				members[m] = append(members[m], gid)
			}
		}
	}
	return gids, members
}

// groupsLine is the Groups: line of /proc/PID/status for gids: the
// kernel keeps supplementary groups sorted and unique.
func groupsLine(gids ...int) string {
	sort.Ints(gids)
	var out []string
	for i, g := range gids {
		if i == 0 || g != gids[i-1] {
			out = append(out, strconv.Itoa(g))
		}
	}
	return strings.Join(out, " ")
}

// --user, --group, --groups as the command sees them (Gid and Groups of
// /proc/self/status), for capcon and rcon (the same code).
func TestCapconUserGroupGroups(t *testing.T) {
	needRoot(t)
	gids, members := groupDB(t)
	for _, g := range []string{"nogroup", "daemon"} {
		if _, ok := gids[g]; !ok {
			t.Skipf("no group %s in /etc/group", g)
		}
	}
	nog, daemon := gids["nogroup"], gids["daemon"]
	second, secondGid := "adm", gids["adm"]
	if _, ok := gids[second]; !ok {
		second, secondGid = "users", gids["users"]
	}
	gidLine := func(g int) string { return strings.TrimSpace(strings.Repeat(strconv.Itoa(g)+" ", 4)) }
	cmd := []string{"grep", "-E", "^(Uid|Gid|Groups):", "/proc/self/status"}
	type want struct{ uid, gid, groups string }
	cases := []struct {
		args []string
		want want
	}{
		// The user's own primary group and its memberships (none).
		{[]string{"--user", "nobody"}, want{nobody, gidLine(nog), groupsLine(nog)}},
		// --group changes the primary group only.
		{[]string{"--user", "nobody", "--group", "daemon"}, want{nobody, gidLine(daemon), groupsLine(nog)}},
		// --groups replaces the supplementary list.
		{[]string{"--user", "nobody", "--groups", "daemon," + second}, want{nobody, gidLine(nog), groupsLine(daemon, secondGid)}},
		{[]string{"--user", "nobody", "--group", "daemon", "--groups", second}, want{nobody, gidLine(daemon), groupsLine(secondGid)}},
		// Numeric ids need no database entry.
		{[]string{"--user", "nobody", "--group", "4242", "--groups", "4243,4244"}, want{nobody, gidLine(4242), groupsLine(4243, 4244)}},
		// Root keeps its uid; its own groups are replaced.
		{[]string{"--group", "daemon", "--groups", second}, want{"0", gidLine(daemon), groupsLine(secondGid)}},
	}
	// A system user with supplementary groups in the database (postgres
	// in ssl-cert, say): the default list holds them all.
	for name, sup := range members {
		out, err := exec.Command("id", "-g", name).Output()
		if err != nil {
			continue
		}
		uid, _ := exec.Command("id", "-u", name).Output()
		primary, _ := strconv.Atoi(strings.TrimSpace(string(out)))
		cases = append(cases, struct {
			args []string
			want want
		}{[]string{"--user", name}, want{strings.TrimSpace(string(uid)), gidLine(primary), groupsLine(append([]int{primary}, sup...)...)}})
		break
	}
	for _, name := range []string{"capcon", "rcon"} {
		for _, c := range cases {
			r := tool(t, name, append(append(c.args[:len(c.args):len(c.args)], "--"), cmd...)...)
			if r.Code != 0 {
				t.Errorf("%s %v: exit %d: %s", name, c.args, r.Code, r.Stderr)
				continue
			}
			st := statusFields(r.Stdout)
			got := want{strings.Fields(st["Uid"] + " ?")[0], st["Gid"], st["Groups"]}
			if got != c.want {
				t.Errorf("%s %v: uid %q gid %q groups %q; want uid %q gid %q groups %q", name, c.args,
					got.uid, got.gid, got.groups, c.want.uid, c.want.gid, c.want.groups)
			}
		}
	}
	// An unknown group is refused, naming it.
	r := capcon(t, "--user", "nobody", "--groups", "daemon,no-such-group-rcontest", "--", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, "no-such-group-rcontest") {
		t.Errorf("--groups with an unknown group: exit %d, stderr %q; want 125 naming it", r.Code, r.Stderr)
	}
}

// A failure in the set-up before exec is the tool's (125); execve's own
// refusals stay 126. Both come back from Go as a bare EPERM.
func TestCapconStartFailureStatuses(t *testing.T) {
	needRoot(t)
	dir := publicDir(t)
	pub := copyExec(t, filepath.Join(binDir, "capcon"), dir, "capcon", 0o755)
	// In nobody's user namespace only its own uid is mapped and setgroups
	// is denied: switching to another identity fails in Go's child.
	r := asNobody(t, pub, "--unshare", "user", "--user", "nobody", "--", "true")
	if r.Code != 125 || !strings.HasPrefix(r.Stderr, "capcon: ") || !strings.Contains(r.Stderr, "operation not permitted") {
		t.Errorf("nobody: capcon --unshare user --user nobody: exit %d, stderr %q; want 125 with the EPERM", r.Code, r.Stderr)
	}

	// A program with a file capability (effective bit set) that the
	// pruned bounding set cannot grant: execve itself says EPERM.
	setcap := libcap(t, "setcap")
	if setcap == "" {
		return
	}
	prog := copyExec(t, "/bin/true", dir, "fcap-true", 0o755)
	if out, err := exec.Command(setcap, "cap_net_raw+ep", prog).CombinedOutput(); err != nil {
		t.Skipf("setcap on %s: %v %s (filesystem without xattrs?)", prog, err, out)
	}
	for _, args := range [][]string{{"--keep", "none"}, {"--keep", "none", "--user", "nobody"}} {
		r := capcon(t, append(append(args, "--"), prog)...)
		if r.Code != 126 || !strings.Contains(r.Stderr, "operation not permitted") {
			t.Errorf("capcon %v -- (a program with cap_net_raw+ep): exit %d, stderr %q; want 126", args, r.Code, r.Stderr)
		}
	}
	// Control: with the capability kept it runs.
	if r := capcon(t, "--keep", "net_raw", "--", prog); r.Code != 0 {
		t.Errorf("control: capcon --keep net_raw -- %s: exit %d, stderr %q", prog, r.Code, r.Stderr)
	}
}
