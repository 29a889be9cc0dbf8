package launch

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The test binary is a held start when rcon's hold variable says so, as
// cmd/rcon is.
func TestMain(m *testing.M) {
	MaybeHold()
	os.Exit(m.Run())
}

// startHeld starts /bin/true held, as startScope does, up to ready.
func startHeld(t *testing.T) (*held, *exec.Cmd) {
	t.Helper()
	st := &steps{cmd: exec.Command("/bin/true")}
	h, err := holdCmd(st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.close)
	if err := h.guard(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.unguard)
	if err := st.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.started()
	t.Cleanup(func() {
		_ = st.cmd.Process.Kill()
		endDescendants(nil, h.inherited)
		_ = st.cmd.Wait()
	})
	if err := h.ready(); err != nil {
		t.Fatal(err)
	}
	return h, st.cmd
}

// A held start is alone and undumpable once ready, and released it runs
// the command. Its uid cannot attach to it; root can, and then
// checkAlone refuses it as traced.
func TestHeldStartIsAloneUntilReleased(t *testing.T) {
	h, cmd := startHeld(t)
	pid := cmd.Process.Pid
	if err := h.checkAlone(pid); err != nil {
		t.Fatalf("checkAlone of a fresh held start: %v", err)
	}
	if os.Geteuid() != 0 {
		// Dumpable, the parent of the same uid could attach.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := unix.PtraceAttach(pid); err == nil {
			_ = unix.PtraceDetach(pid)
			t.Fatal("attached to the held start as its own uid: it is dumpable")
		}
	}
	if err := h.release(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("released, the command: %v", err)
	}
}

func TestHeldStartTracedIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("attaching to an undumpable process needs CAP_SYS_PTRACE")
	}
	h, cmd := startHeld(t)
	pid := cmd.Process.Pid
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.PtraceAttach(pid); err != nil {
		t.Fatal(err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
		t.Fatal(err)
	}
	err := h.checkAlone(pid)
	_ = unix.PtraceDetach(pid)
	if err == nil || !strings.Contains(err.Error(), "traced by pid") {
		t.Fatalf("checkAlone of a traced held start: %v, want refused as traced", err)
	}
}

// What a held start was made to fork (the attack of
// integration.TestSystemdHeldStartCannotBeTakenOver) is found as its
// child, or, orphaned, as rcon's (the subreaper's). A shell stands in
// for the held process: as root, dumpability is not what is checked.
func TestCheckAloneFindsForks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a shell stands in for the held start: dumpable, it is refused for that unless root")
	}
	for _, c := range []struct{ name, script, want string }{
		{"child", `sleep 271.4 & echo; read x`, "has child processes"},
		{"orphan", `(sleep 271.3 >/dev/null 2>&1 &); echo; read x`, "outside its scope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := &held{parent: -1, child: -1}
			if err := h.guard(); err != nil {
				t.Fatal(err)
			}
			defer h.unguard()
			sh := exec.Command("sh", "-c", c.script)
			in, _ := sh.StdinPipe()
			out, _ := sh.StdoutPipe()
			if err := sh.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				in.Close()
				_ = sh.Process.Kill()
				endDescendants(nil, h.inherited)
				_ = sh.Wait()
			}()
			if _, err := out.Read(make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			err := h.checkAlone(sh.Process.Pid)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("checkAlone: %v, want %q", err, c.want)
			}
		})
	}
}
