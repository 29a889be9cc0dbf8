package nsjail

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// The test binary doubles as a minimal stage inside the namespaces: with
// NSJAIL_TEST_SPEC set, TestMain runs SetupInside and execs the command in
// argv (the real init, which supervises, is tested in launch and integration).
func TestMain(m *testing.M) {
	if spec := os.Getenv("NSJAIL_TEST_OUTER"); spec != "" {
		// Unprivileged outer stage: enter the namespaces as the current user.
		var s Spec
		if err := json.Unmarshal([]byte(spec), &s); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(125)
		}
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Env = append(os.Environ(), "NSJAIL_TEST_SPEC="+spec, "NSJAIL_TEST_OUTER=")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{}
		SetSysProcAttr(cmd.SysProcAttr, &s, os.Getuid(), os.Getgid())
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "outer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if spec := os.Getenv("NSJAIL_TEST_SPEC"); spec != "" {
		var s Spec
		if err := json.Unmarshal([]byte(spec), &s); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(125)
		}
		if err := SetupInside(&s); err != nil {
			fmt.Fprintln(os.Stderr, "setup:", err)
			os.Exit(125)
		}
		if err := DropAmbient(); err != nil {
			fmt.Fprintln(os.Stderr, "drop ambient:", err)
			os.Exit(125)
		}
		args := os.Args[len(os.Args)-1]
		os.Unsetenv("NSJAIL_TEST_SPEC")
		err := syscall.Exec("/bin/sh", []string{"sh", "-c", args}, os.Environ())
		fmt.Fprintln(os.Stderr, "exec:", err)
		os.Exit(127)
	}
	os.Exit(m.Run())
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// inNS runs script under the test binary in the namespaces of s.
func inNS(t *testing.T, s Spec, uid, gid int, cred *syscall.Credential, script string) (string, error) {
	t.Helper()
	if err := s.Normalize(); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(s)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$", script)
	cmd.Env = append(os.Environ(), "NSJAIL_TEST_SPEC="+string(data))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	SetSysProcAttr(cmd.SysProcAttr, &s, uid, gid)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestSetupInsidePIDMountNetUTS(t *testing.T) {
	needRoot(t)
	host, _ := os.Hostname()
	tmp := t.TempDir()
	out, err := inNS(t, Spec{PID: true, Mount: true, Net: true, IPC: true, Hostname: "nsjail-test",
		Tmpfs: []string{tmp}},
		0, 0, nil,
		fmt.Sprintf(`echo pid=$$; echo host=$(cat /proc/sys/kernel/hostname); test -e /proc/%d || echo hidden; `+
			`echo init=$(cat /proc/1/comm); grep -c : /proc/net/dev; touch %s/inside; grep -c ' %s ' /proc/self/mountinfo`,
			os.Getpid(), tmp, tmp))
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, want := range []string{"pid=1\n", "host=nsjail-test\n", "hidden\n", "init=sh\n", "\n1\n1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if h, _ := os.Hostname(); h != host {
		t.Errorf("host name changed outside: %q -> %q", host, h)
	}
	if _, err := os.Stat(tmp + "/inside"); err == nil {
		t.Error("file written on the tmpfs inside is visible outside")
	}
}

func TestLoopbackUp(t *testing.T) {
	needRoot(t)
	out, err := inNS(t, Spec{Net: true}, 0, 0, nil, `cat /proc/net/dev; ip -o link 2>&1 || true`)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(out, "lo:") || strings.Count(out, ":") < 2 {
		t.Errorf("unexpected:\n%s", out)
	}
	if strings.Contains(out, "1: lo:") && !strings.Contains(out, "UP") {
		t.Errorf("lo not up:\n%s", out)
	}
}

func TestUserNSUnprivileged(t *testing.T) {
	needRoot(t)
	// The test binary must be reachable by nobody.
	dir, err := os.MkdirTemp("", "nsjail-test")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	exe, _ := os.Executable()
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := dir + "/nsjail.test"
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mapUser bool
		want    string
	}{{false, "uid=0"}, {true, "uid=65534"}} {
		spec, _ := json.Marshal(Spec{User: true, PID: true, Mount: true, Net: true, UTS: true, Hostname: "userns", MapUser: tc.mapUser})
		cmd := exec.Command(bin, "-test.run=^$", `echo uid=$(id -u); echo pid=$$; echo init=$(cat /proc/1/comm); hostname; grep -e CapAmb -e CapInh /proc/self/status`)
		cmd.Dir = "/"
		cmd.Env = append(os.Environ(), "NSJAIL_TEST_OUTER="+string(spec))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("map_user=%v: %v: %s", tc.mapUser, err, out)
		}
		for _, want := range []string{tc.want + "\n", "pid=1\n", "init=sh\n", "userns\n", "CapAmb:\t0000000000000000\n", "CapInh:\t0000000000000000\n"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("map_user=%v: output lacks %q:\n%s", tc.mapUser, want, out)
			}
		}
	}
}

func TestROBindAndChroot(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	src := t.TempDir()
	if err := os.WriteFile(src+"/f", []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A chroot with /bin, /lib* and /usr read-only from the host, a
	// read-only data dir and a tmpfs.
	s := Spec{PID: true, Chroot: root, RoBind: []Bind{{Src: "/usr"}, {Src: src, Dst: "/data"}}, Tmpfs: []string{"/tmp"}}
	for _, l := range []string{"/bin", "/lib", "/lib64", "/sbin"} {
		if fi, err := os.Lstat(l); err == nil {
			if fi.Mode()&os.ModeSymlink != 0 {
				target, _ := os.Readlink(l)
				if err := os.Symlink(target, root+l); err != nil {
					t.Fatal(err)
				}
			} else {
				s.RoBind = append(s.RoBind, Bind{Src: l})
			}
		}
	}
	out, err := inNS(t, s, 0, 0, nil, `cat /data/f; (touch /data/g && echo WRITABLE) 2>&1; touch /tmp/x && echo tmp-ok; echo init=$(cat /proc/1/comm); ls / | tr '\n' ' '`)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, want := range []string{"hello\n", "tmp-ok\n", "init=sh\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "WRITABLE") {
		t.Errorf("ro-bind writable:\n%s", out)
	}
	if _, err := os.Stat(src + "/g"); err == nil {
		t.Error("write through ro-bind reached the host")
	}
}

func TestUnshareThread(t *testing.T) {
	needRoot(t)
	host, _ := os.Hostname()
	type result struct {
		out string
		err error
	}
	mine, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread exits with this goroutine.
		runtime.LockOSThread()
		s := Spec{Mount: true, Net: true, UTS: true, IPC: true, Cgroup: true, Hostname: "thread-ns"}
		if err := UnshareThread(&s); err != nil {
			done <- result{err: err}
			return
		}
		out, err := exec.Command("/bin/sh", "-c", `hostname; grep -c : /proc/net/dev; readlink /proc/self/ns/net`).CombinedOutput()
		done <- result{string(out), err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatalf("%v: %s", r.err, r.out)
	}
	if !strings.HasPrefix(r.out, "thread-ns\n1\n") || strings.Contains(r.out, mine) {
		t.Errorf("unexpected (host net %s):\n%s", mine, r.out)
	}
	if h, _ := os.Hostname(); h != host {
		t.Errorf("host name changed in the process: %q -> %q", host, h)
	}
	if err := UnshareThread(&Spec{PID: true}); err == nil {
		t.Error("UnshareThread accepted pid")
	}
}

func TestCheckMapUserWithoutCgo(t *testing.T) {
	// This test binary links no cgo, so the probe works here.
	if err := CheckMapUser(&Spec{MapUser: true}, 1000); err != nil {
		t.Errorf("CheckMapUser in a binary without cgo: %v", err)
	}
}
