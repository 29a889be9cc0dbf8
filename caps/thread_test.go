package caps

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/syndtr/gocapability/capability"
	"golang.org/x/sys/unix"
)

// The main goroutine stays on the main thread, so the throwaway locked
// goroutines below (whose threads end up with reduced capabilities and die
// with them) can never be scheduled on it: Go wedges instead of killing a
// locked main thread, and /proc/PID/status shows the main thread's sets.
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) {
	if h := os.Getenv("CAPS_TEST_HELPER"); h != "" {
		os.Exit(helper(h))
	}
	before, err := ReadStatus(os.Getpid())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	after, err := ReadStatus(os.Getpid())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if !reflect.DeepEqual(before, after) {
		fmt.Fprintf(os.Stderr, "main thread changed by the tests:\n%+v\n%+v\n", before, after)
		os.Exit(1)
	}
	os.Exit(code)
}

// helper runs inside the exec'd test binary: "bind:ADDR" listens on ADDR.
func helper(h string) int {
	addr, ok := strings.CutPrefix(h, "bind:")
	if !ok {
		fmt.Println("unknown helper", h)
		return 2
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println("bind:", err)
		return 1
	}
	l.Close()
	fmt.Println("bound", addr)
	return 0
}

func requirePrivileged(t *testing.T) *Status {
	t.Helper()
	st, err := ReadStatus(0)
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 || !st.Prm.Has(capSetpcap) || !st.Prm.Has(capSetuid) || !st.Prm.Has(capSetgid) {
		t.Skip("needs root with cap_setpcap, cap_setuid, cap_setgid (CI runs as root)")
	}
	return st
}

// startOnThread does what the launcher does: a locked goroutine that never
// unlocks, the plan applied on it, the child started from it with the
// plan's ambient set. plan runs on the locked thread (so a test can change
// the thread first and plan from there).
func startOnThread(plan func() (*Plan, error), cred *syscall.Credential, env []string, argv ...string) (string, error) {
	type result struct {
		out string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with us
		p, err := plan()
		if err != nil {
			ch <- result{"", err}
			return
		}
		if err := p.ApplyToThread(); err != nil {
			ch <- result{"", err}
			return
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, AmbientCaps: p.Ambient()}
		out, err := cmd.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%v: %w: %s", argv, err, out)
		}
		ch <- result{string(out), err}
	}()
	r := <-ch
	return r.out, r.err
}

func planned(t *testing.T, s Spec, switchUser bool) func() (*Plan, error) {
	t.Helper()
	p, err := s.Plan(switchUser)
	if err != nil {
		t.Fatalf("Plan(%+v): %v", s, err)
	}
	return func() (*Plan, error) { return p, nil }
}

var nobody = &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}

func childStatus(t *testing.T, plan func() (*Plan, error), cred *syscall.Credential) *Status {
	t.Helper()
	out, err := startOnThread(plan, cred, nil, "/bin/cat", "/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	st, err := ParseStatus(strings.NewReader(out))
	if err != nil {
		t.Fatalf("child's status: %v\n%s", err, out)
	}
	return st
}

func assertSets(t *testing.T, st *Status, prm, eff, inh, bnd, amb Set) {
	t.Helper()
	for _, c := range []struct {
		name      string
		got, want Set
	}{{"CapPrm", st.Prm, prm}, {"CapEff", st.Eff, eff}, {"CapInh", st.Inh, inh}, {"CapBnd", st.Bnd, bnd}, {"CapAmb", st.Amb, amb}} {
		if c.got != c.want {
			t.Errorf("%s = %s (%s), want %s (%s)", c.name, c.got.Hex(), c.got, c.want.Hex(), c.want)
		}
	}
}

func TestKeepAsRoot(t *testing.T) {
	requirePrivileged(t)
	st := childStatus(t, planned(t, Spec{Keep: []string{"net_bind_service"}}, false), nil)
	assertSets(t, st, 0x400, 0x400, 0x400, 0x400, 0x400)
	if !st.NoNewPrivs || st.Uid != [4]int{0, 0, 0, 0} {
		t.Errorf("NoNewPrivs %v, Uid %v; want true, all 0", st.NoNewPrivs, st.Uid)
	}
	// libcap names the exec'd program's set the way we do.
	capsh := findCapsh()
	if capsh == "" {
		t.Skip("capsh not installed (apt-get install -y libcap2-bin): skipping the libcap cross-check")
	}
	for _, s := range []Set{st.Prm, st.Bnd, 0x000001fffeffffff, All()} {
		out, err := exec.Command(capsh, "--decode="+s.Hex()).Output()
		if err != nil {
			t.Fatalf("capsh --decode=%s: %v", s.Hex(), err)
		}
		if want := "0x" + s.Hex() + "=" + s.List(); strings.TrimSpace(string(out)) != want {
			t.Errorf("capsh --decode=%s printed %q, we say %q", s.Hex(), strings.TrimSpace(string(out)), want)
		}
	}
}

func findCapsh() string {
	for _, p := range []string{"/usr/sbin/capsh", "/sbin/capsh"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func TestKeepAsNobody(t *testing.T) {
	requirePrivileged(t)
	st := childStatus(t, planned(t, Spec{Keep: []string{"net_bind_service"}}, true), nobody)
	assertSets(t, st, 0x400, 0x400, 0x400, 0x400, 0x400)
	if st.Uid != [4]int{65534, 65534, 65534, 65534} || st.Gid != [4]int{65534, 65534, 65534, 65534} || len(st.Groups) != 0 {
		t.Errorf("Uid %v Gid %v Groups %v; want nobody, no groups", st.Uid, st.Gid, st.Groups)
	}
}

func TestKeepNone(t *testing.T) {
	requirePrivileged(t)
	spec := Spec{KeepSet: true, Keep: []string{"none"}}
	assertSets(t, childStatus(t, planned(t, spec, false), nil), 0, 0, 0, 0, 0)
	assertSets(t, childStatus(t, planned(t, spec, true), nobody), 0, 0, 0, 0, 0)
}

func TestDrop(t *testing.T) {
	cur := requirePrivileged(t)
	assertSets(t, childStatus(t, planned(t, Spec{Drop: []string{"all"}}, false), nil), 0, 0, 0, 0, 0)

	want := cur.Prm & cur.Bnd &^ (1<<21 | 1<<13) // sys_admin, net_raw
	st := childStatus(t, planned(t, Spec{Drop: []string{"CAP_SYS_ADMIN,net-raw"}}, false), nil)
	assertSets(t, st, want, want, want, want, want)
	st = childStatus(t, planned(t, Spec{Drop: []string{"sys_admin", "net_raw"}}, true), nobody)
	assertSets(t, st, want, want, want, want, want)
}

func TestAllowNewPrivs(t *testing.T) {
	requirePrivileged(t)
	st := childStatus(t, planned(t, Spec{Keep: []string{"chown"}, AllowNewPrivs: true}, false), nil)
	assertSets(t, st, 1, 1, 1, 1, 1)
	if st.NoNewPrivs {
		t.Error("NoNewPrivs on despite AllowNewPrivs")
	}
}

// libcap's view of the exec'd program's securebits: root cannot regain
// capabilities through exec, and the program cannot undo that.
func TestSecurebitsSeenByCapsh(t *testing.T) {
	requirePrivileged(t)
	capsh := findCapsh()
	if capsh == "" {
		t.Skip("capsh not installed (apt-get install -y libcap2-bin)")
	}
	out, err := startOnThread(planned(t, Spec{Keep: []string{"net_bind_service"}}, false), nil, nil, capsh, "--print")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"secure-noroot: yes (locked)", "secure-keep-caps: no (unlocked)", "secure-no-ambient-raise: no (unlocked)", "Bounding set =cap_net_bind_service"} {
		if !strings.Contains(out, want) {
			t.Errorf("capsh --print lacks %q:\n%s", want, out)
		}
	}
}

// The capabilities work, not just show: nobody binds a privileged port
// with --keep net_bind_service and gets EACCES without it.
func TestNobodyBindsPrivilegedPort(t *testing.T) {
	requirePrivileged(t)
	port := freePrivilegedPort(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// nobody cannot reach the go test work directory (0700).
	dir, err := os.MkdirTemp("", "capstest")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "caps.test")
	if err := copyFile(self, bin); err != nil {
		t.Fatal(err)
	}
	env := []string{"CAPS_TEST_HELPER=bind:" + port}

	out, err := startOnThread(planned(t, Spec{Keep: []string{"net_bind_service"}}, true), nobody, env, bin)
	if err != nil || !strings.Contains(out, "bound") {
		t.Errorf("with net_bind_service: %v %s", err, out)
	}
	out, err = startOnThread(planned(t, Spec{KeepSet: true}, true), nobody, env, bin)
	if err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("without net_bind_service: want EACCES, got %v %s", err, out)
	}
}

func freePrivilegedPort(t *testing.T) string {
	for p := 1023; p > 900; p-- {
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			return addr
		}
	}
	t.Skip("no free port in 901..1023")
	return ""
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// dropFromThread removes caps from the calling (locked) thread's
// Permitted, Effective and Inheritable sets, simulating a caller that
// holds less.
func dropFromThread(drop Set) error {
	st, err := ReadStatus(0)
	if err != nil {
		return err
	}
	c, err := capability.NewPid2(0)
	if err != nil {
		return err
	}
	c.Set(capability.PERMITTED|capability.EFFECTIVE, capList(st.Prm&^drop)...)
	c.Set(capability.INHERITABLE, capList(st.Inh&^drop)...)
	return c.Apply(capability.CAPS)
}

// A plan computed while the caps were there, applied on a thread that has
// lost one: refused, naming it, and nothing is exec'd.
func TestApplyRefusesWhenThreadLacksCap(t *testing.T) {
	requirePrivileged(t)
	p, err := (&Spec{Keep: []string{"net_bind_service"}}).Plan(false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = startOnThread(func() (*Plan, error) {
		return p, dropFromThread(1 << 10)
	}, nil, nil, "/bin/true")
	if err == nil || !strings.Contains(err.Error(), "cap_net_bind_service") {
		t.Errorf("want an error naming cap_net_bind_service, got %v", err)
	}
}

// The gocapability trap: without CAP_SETPCAP in the thread, Apply(BOUNDS)
// does nothing and says nothing. A plan that expects to prune the bounding
// set must then fail rather than exec with the full bounding set.
func TestApplyFailsWhenBoundingCannotBePruned(t *testing.T) {
	requirePrivileged(t)
	p, err := (&Spec{Keep: []string{"net_bind_service"}}).Plan(false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = startOnThread(func() (*Plan, error) {
		return p, dropFromThread(1 << capSetpcap)
	}, nil, nil, "/bin/true")
	if err == nil {
		t.Fatal("ApplyToThread succeeded on a thread without cap_setpcap")
	}
	t.Log(err)
}

// A caller without CAP_SETPCAP (planned from such a thread): --drop still
// prunes P/E/I/ambient, the bounding set stays, no_new_privs keeps root
// from regaining anything through exec; --keep of a cap not held names it.
func TestUnprivilegedCaller(t *testing.T) {
	cur := requirePrivileged(t)
	const chown, netRaw Set = 1 << 0, 1 << 13
	reduce := func() error { return dropFromThread(All() &^ (chown | netRaw)) }

	out, err := startOnThread(func() (*Plan, error) {
		if err := reduce(); err != nil {
			return nil, err
		}
		return (&Spec{Drop: []string{"net_raw"}}).Plan(false)
	}, nil, nil, "/bin/cat", "/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	st, err := ParseStatus(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	assertSets(t, st, chown, chown, chown, cur.Bnd, chown)

	_, err = startOnThread(func() (*Plan, error) {
		if err := reduce(); err != nil {
			return nil, err
		}
		return (&Spec{Keep: []string{"sys_admin"}}).Plan(false)
	}, nil, nil, "/bin/true")
	if err == nil || !strings.Contains(err.Error(), "cap_sys_admin") {
		t.Errorf("keep sys_admin without holding it: %v", err)
	}
}

func TestReadStatusSelf(t *testing.T) {
	st, err := ReadStatus(0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Securebits == nil {
		t.Error("securebits unknown for the calling thread")
	}
	if st.Uid[1] != os.Geteuid() {
		t.Errorf("euid %d, want %d", st.Uid[1], os.Geteuid())
	}
	if _, err := ReadStatus(os.Getpid()); err != nil {
		t.Error(err)
	}
	if _, err := ReadStatus(-5); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadStatus(-5): %v", err)
	}
}

// The read-back catches state the apply steps do not produce: here the
// thread already has no_new_privs, which cannot be unset, while the plan
// (made on another thread) allows new privileges.
func TestApplyReadBackCatchesDivergence(t *testing.T) {
	requirePrivileged(t)
	p, err := (&Spec{Keep: []string{"net_bind_service"}, AllowNewPrivs: true}).Plan(false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = startOnThread(func() (*Plan, error) {
		return p, unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
	}, nil, nil, "/bin/true")
	if err == nil || !strings.Contains(err.Error(), "NoNewPrivs is true, want false") {
		t.Errorf("want a read-back mismatch on NoNewPrivs, got %v", err)
	}
}

// The zero Spec (what capcon does without --keep/--drop) only sets
// no_new_privs: a setuid-root program run as nobody stays nobody. Without
// it (the control) the same program gets euid 0.
func TestNoNewPrivsOnlyStopsSetuid(t *testing.T) {
	requirePrivileged(t)
	dir, err := os.MkdirTemp("", "capstest")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	id := filepath.Join(dir, "id")
	if err := copyFile("/usr/bin/id", id); err != nil {
		t.Skipf("no /usr/bin/id to copy: %v", err)
	}
	if err := os.Chmod(id, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	control, err := startOnThread(planned(t, Spec{AllowNewPrivs: true}, true), nobody, nil, id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(control, "euid=0") {
		t.Skipf("setuid bit has no effect in %s (nosuid mount?): %s", dir, control)
	}
	p, err := (&Spec{}).Plan(true)
	if err != nil {
		t.Fatal(err)
	}
	if p.SetsChanged || p.Ambient() != nil || !p.NoNewPrivs {
		t.Errorf("zero Spec plan %+v: want no set changes, no ambient, no_new_privs", *p)
	}
	out, err := startOnThread(func() (*Plan, error) { return p, nil }, nobody, nil, id)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "euid=") || !strings.HasPrefix(out, "uid=65534") {
		t.Errorf("setuid-root id under no_new_privs printed %q, want uid=65534 without euid", out)
	}
	st := childStatus(t, func() (*Plan, error) { return p, nil }, nobody)
	assertSets(t, st, 0, 0, 0, p.Bounding, 0)
	if !st.NoNewPrivs {
		t.Error("NoNewPrivs off")
	}
}
