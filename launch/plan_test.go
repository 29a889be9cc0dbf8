package launch

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"rcon/spec"
)

// waitGone passes a signal on to the members listed when it arrives, not
// to the list of a tick before, drops what the terminal sent itself, and
// returns once the list is empty.
func TestWaitGoneForwardsToCurrentMembers(t *testing.T) {
	sleeper := func() *exec.Cmd {
		c := exec.Command("sleep", "30")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	a, b := sleeper(), sleeper()
	exited := func(c *exec.Cmd) bool {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Process.Pid))
		return strings.Contains(string(st), ") Z ")
	}
	var mu sync.Mutex
	var members []int
	// A member is live until it exits (a zombie is gone: not reaped
	// here, so the test can read how it ended).
	list := func() ([]int, error) {
		mu.Lock()
		defer mu.Unlock()
		var live []int
		for _, p := range members {
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); err == nil && !strings.Contains(string(st), ") Z ") {
				live = append(live, p)
			}
		}
		return live, nil
	}
	sigs := make(chan os.Signal, 4)
	done := make(chan struct{})
	members = []int{a.Process.Pid}
	go func() { waitGone(list, sigs, 5*time.Millisecond, true); close(done) }()

	// From the terminal: not passed on (a would die of it).
	sigs <- syscall.SIGINT
	time.Sleep(50 * time.Millisecond)
	if exited(a) {
		t.Fatal("a SIGINT the terminal sent reached the member a second time")
	}
	// b joins; a SIGTERM reaches both, and then nothing is left.
	mu.Lock()
	members = append(members, b.Process.Pid)
	mu.Unlock()
	sigs <- syscall.SIGTERM
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("waitGone did not return once its members had gone")
	}
	for _, c := range []*exec.Cmd{a, b} {
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(c.Process.Pid, &ws, 0, nil); err != nil || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Errorf("member %d: %v %v, want ended by SIGTERM", c.Process.Pid, ws, err)
		}
	}
}

func TestTerminalSent(t *testing.T) {
	for _, c := range []struct {
		sig  os.Signal
		tty  bool
		want bool
	}{
		{syscall.SIGINT, true, true}, {syscall.SIGQUIT, true, true}, {syscall.SIGTERM, true, false},
		{syscall.SIGINT, false, false}, {syscall.SIGHUP, false, false},
	} {
		if got := terminalSent(c.sig, c.tty); got != c.want {
			t.Errorf("terminalSent(%v, tty %v) = %v, want %v", c.sig, c.tty, got, c.want)
		}
	}
}

// The launcher adds to its own copy of the namespaces, never to the spec
// it was given (which a caller may reuse or print).
func TestJobDoesNotChangeItsSpec(t *testing.T) {
	s, err := spec.Build("rcon", spec.Layer{Argv: spec.Val([]string{"true"}, "--"), Tmpfs: []string{"/tmp"}})
	if err != nil {
		t.Fatal(err)
	}
	before := *s.NS
	j := newJob(s)
	j.jail = withProtectSys(j.jail)
	j.jail = withMount(j.jail)
	j.hideState()
	if s.NS.ProtectSys || len(s.NS.Hide) != 0 || len(s.NS.Tmpfs) != len(before.Tmpfs) {
		t.Errorf("the spec's namespaces changed: %+v, were %+v", s.NS, before)
	}
	if !j.jail.ProtectSys {
		t.Errorf("the job's jail lost what was added: %+v", j.jail)
	}
}

// An empty plan needs no start thread; apply on it does nothing.
func TestEmptyStartPlan(t *testing.T) {
	var nilPlan *startPlan
	if !nilPlan.empty() || !(&startPlan{}).empty() || (&startPlan{denyUserNS: true}).empty() {
		t.Error("empty() is wrong")
	}
	if err := nilPlan.apply(); err != nil {
		t.Error(err)
	}
}
