package integration

// The attack on the systemd driver's held start (launch/hold.go): the
// held process has the command's credentials and sits outside every
// group until systemd moves it into its scope. A process of that uid
// (another run's command, say) that can ptrace it makes it fork there:
// the fork is outside every limit and every group rcon ends.

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"rcon/procfs"
)

// forkCode is what ptraceFork has the held process run: fork; the child
// closes its descriptors 0-63 (so that it holds no pipe or socket of
// rcon's and of the test's, and the run can end without it) and loops in
// pause(2), alive where it was born; the parent traps back to the tracer.
var forkCode = []byte{
	0xb8, 0x39, 0x00, 0x00, 0x00, // mov eax, 57 (fork)
	0x0f, 0x05, // syscall
	0x85, 0xc0, // test eax, eax
	0x75, 0x19, // jnz parent
	0x31, 0xff, // child: xor edi, edi
	0xb8, 0x03, 0x00, 0x00, 0x00, // close: mov eax, 3 (close)
	0x0f, 0x05, // syscall
	0xff, 0xc7, // inc edi
	0x83, 0xff, 0x40, // cmp edi, 64
	0x7c, 0xf2, // jl close
	0xb8, 0x22, 0x00, 0x00, 0x00, // pause: mov eax, 34 (pause)
	0x0f, 0x05, // syscall
	0xeb, 0xf7, // jmp pause
	0xcc,             // parent: int3
	0xcc, 0xcc, 0xcc, // pad to 5 words
}

// ptraceFork is the attacker: for d, every process whose command line is
// rcon's held start is attached to and made to fork, one line each on
// stdout: "held PID attach ERROR" or "held PID child CPID cgroup PATH"
// (the child's cgroup read right after the fork).
func ptraceFork(d time.Duration) int {
	if runtime.GOARCH != "amd64" {
		fmt.Println("unsupported", runtime.GOARCH)
		return 0
	}
	runtime.LockOSThread() // every ptrace call from one thread, the tracer
	// done: pids whose command line is final for this purpose. rcon's
	// child is a copy of rcon until its execve makes it the held start,
	// so a pid that looks like rcon is read again on the next round.
	done := map[string]bool{}
	for end := time.Now().Add(d); time.Now().Before(end); {
		proc, err := os.Open("/proc")
		if err != nil {
			return 1
		}
		names, _ := proc.Readdirnames(-1)
		proc.Close()
		for _, name := range names {
			if done[name] || name[0] < '0' || name[0] > '9' {
				continue
			}
			b, err := os.ReadFile("/proc/" + name + "/cmdline")
			if err != nil {
				done[name] = true
				continue
			}
			if !bytes.HasPrefix(b, []byte("rcon-hold\x00")) {
				if !bytes.Contains(b, []byte("rcon")) {
					done[name] = true
				}
				continue
			}
			done[name] = true
			pid, _ := strconv.Atoi(name)
			what, child := injectFork(pid)
			// The fork is a copy of the held start: not one to attack.
			done[strconv.Itoa(child)] = true
			fmt.Printf("held %d %s\n", pid, what)
		}
	}
	return 0
}

// injectFork makes pid fork; it returns what happened and the child's
// pid, if there is one.
func injectFork(pid int) (string, int) {
	if err := unix.PtraceAttach(pid); err != nil {
		return "attach " + err.Error(), 0
	}
	defer unix.PtraceDetach(pid)
	stop := func() error {
		for {
			var ws unix.WaitStatus
			if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
				return err
			}
			if !ws.Stopped() {
				return fmt.Errorf("not stopped: %v", ws)
			}
			if ws.StopSignal() == unix.SIGTRAP || ws.StopSignal() == unix.SIGSTOP {
				return nil
			}
			// Go's preemption signals and such: not delivered, go on.
			if err := unix.PtraceCont(pid, 0); err != nil {
				return err
			}
		}
	}
	if err := stop(); err != nil {
		return "wait " + err.Error(), 0
	}
	var regs unix.PtraceRegs
	if err := unix.PtraceGetRegs(pid, &regs); err != nil {
		return "getregs " + err.Error(), 0
	}
	saved := regs
	// Write the code at the entry point: run once at start-up, never by
	// another thread now (the stopped thread's own place may be).
	addr := uintptr(regs.Rip)
	if f, err := elf.Open(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
		if f.Type == elf.ET_EXEC {
			addr = uintptr(f.Entry)
		}
		f.Close()
	}
	orig := make([]byte, len(forkCode))
	if _, err := unix.PtracePeekText(pid, addr, orig); err != nil {
		return "peek " + err.Error(), 0
	}
	if _, err := unix.PtracePokeText(pid, addr, forkCode); err != nil {
		return "poke " + err.Error(), 0
	}
	defer unix.PtracePokeText(pid, addr, orig)
	regs.Rip = uint64(addr)
	regs.Orig_rax = ^uint64(0) // no restart of the syscall it was stopped in
	if err := unix.PtraceSetRegs(pid, &regs); err != nil {
		return "setregs " + err.Error(), 0
	}
	defer unix.PtraceSetRegs(pid, &saved)
	if err := unix.PtraceCont(pid, 0); err != nil {
		return "cont " + err.Error(), 0
	}
	if err := stop(); err != nil {
		return "wait " + err.Error(), 0
	}
	if err := unix.PtraceGetRegs(pid, &regs); err != nil {
		return "getregs " + err.Error(), 0
	}
	child := int(int64(regs.Rax))
	if child <= 0 {
		return "fork " + syscall.Errno(-child).Error(), 0
	}
	cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", child))
	return fmt.Sprintf("child %d cgroup %s", child, strings.TrimSpace(strings.TrimPrefix(string(cg), "0::"))), child
}

// TestSystemdHeldStartCannotBeTakenOver: an attacker of the command's
// uid (nobody) watches for held starts, attaches to each and makes it
// fork. Either it cannot attach (the held process is undumpable from its
// first instruction of rcon's own), or what it forked outside the scope
// is found: the run is refused (125) and the fork is gone with it. On the
// old code the fork ran on, in rcon's own cgroup, and the command ran.
func TestSystemdHeldStartCannotBeTakenOver(t *testing.T) {
	needSystemd(t)
	needRoot(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("the injector is amd64 code")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope"); err == nil && strings.TrimSpace(string(b)) != "0" {
		t.Skipf("kernel.yama.ptrace_scope is %s: only a tracer's descendants can be attached to", strings.TrimSpace(string(b)))
	}
	att := exec.Command(self(t), "30")
	att.Env = append(os.Environ(), "RCON_TEST_HELPER=ptrace-fork")
	att.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := att.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := att.Start(); err != nil {
		t.Fatal(err)
	}
	var forked []int
	t.Cleanup(func() {
		_ = att.Process.Kill()
		_ = att.Wait()
		for _, pid := range forked {
			if alive(pid) {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
	})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	time.Sleep(300 * time.Millisecond) // the attacker has listed /proc once
	tries, blocked := 0, 0
	for run := 0; run < 3; run++ {
		r := sdrcon(t, "--user", "nobody", "--mem", "64M", "--pids", "4", "--", "true")
		for more := true; more; {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the attacker ended early: %v", att.Wait())
				}
				t.Logf("run %d (exit %d): attacker: %s", run, r.Code, l)
				var held, child int
				var cg string
				if strings.Contains(l, " attach ") {
					tries++
					blocked++
					continue
				}
				if _, err := fmt.Sscanf(l, "held %d child %d cgroup %s", &held, &child, &cg); err != nil {
					continue // rcon ended the held process under the attack
				}
				tries++
				forked = append(forked, child)
				if strings.Contains(cg, "/rcon.slice/rcon-") {
					continue // born in the scope: bound by its limits
				}
				if r.Code != 125 || !strings.Contains(r.Stderr, "refusing to run the command") {
					t.Errorf("the held start was made to fork outside its scope (in %s) and the run went on: exit %d, %s", cg, r.Code, r.Stderr)
				}
				if alive(child) {
					t.Errorf("the process forked outside the scope (pid %d, in %s) outlived the run", child, cg)
				}
			case <-time.After(500 * time.Millisecond):
				more = false
			}
		}
		if r.Code != 0 && r.Code != 125 {
			t.Errorf("run %d: exit %d: %s", run, r.Code, r.Stderr)
		}
	}
	if tries == 0 {
		t.Fatal("the attacker neither attached to a held start nor was refused: the test attacked nothing")
	}
	t.Logf("%d held starts attacked, %d could not be attached to", tries, blocked)
}

// alive: pid exists and is not a zombie (a forked copy of the held
// start: its command line is rcon-hold's).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.HasPrefix(b, []byte("rcon-hold")) {
		return false
	}
	_, state, err := procfs.StartAndState(pid)
	return err == nil && state != "Z"
}
