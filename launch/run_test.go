package launch

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"rcon/cgroupfs"
)

// On v2 a command is born in its group through the group's fd or not at
// all: without one, startIn refuses instead of starting it from a thread
// (entering a thread into a group does nothing on v2).
func TestStartInRefusesV2GroupWithoutFD(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "g")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	g, err := cgroupfs.Open("g", cgroupfs.V2, []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Delete(); err != nil { // closes the fd and removes dir
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "ran")
	cmd := exec.Command("/bin/sh", "-c", "touch "+marker)
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	err = startIn(cmd, g, nil)
	if cmd.Process != nil {
		cmd.Wait()
	}
	if err == nil {
		t.Error("startIn started the command without its v2 group's fd")
	}
	if _, serr := os.Stat(marker); serr == nil {
		t.Error("the command ran outside its group")
	}
	var f *Failure
	if err != nil && (!errors.As(err, &f) || f.Status != ExitFailure) {
		t.Errorf("startIn: %v, want a Failure with status %d", err, ExitFailure)
	}
}

// startErr is what cmd.Start returns for an errno of the child or of
// execve: Go cannot tell them apart.
func startErr(path string, e syscall.Errno) error {
	return &fs.PathError{Op: "fork/exec", Path: path, Err: e}
}

func TestStartFailureStatus(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	none := &syscall.SysProcAttr{}
	user := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	ambient := &syscall.SysProcAttr{AmbientCaps: []uintptr{10}}
	clone := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	for _, c := range []struct {
		name  string
		attr  *syscall.SysProcAttr
		errno syscall.Errno
		want  int
	}{
		{"missing", none, syscall.ENOENT, ExitNotFound},
		{"missing after a user switch", user, syscall.ENOENT, ExitNotFound},
		{"no x bit", none, syscall.EACCES, ExitNotExec},
		{"not an executable", user, syscall.ENOEXEC, ExitNotExec},
		{"text busy", none, syscall.ETXTBSY, ExitNotExec},
		{"interpreter a directory", none, syscall.EISDIR, ExitNotExec},
		{"argument list too long", none, syscall.E2BIG, ExitNotExec},
		// EPERM: only execve could have said it ...
		{"EPERM, nothing before exec", none, syscall.EPERM, ExitNotExec},
		{"EPERM, nil SysProcAttr", nil, syscall.EPERM, ExitNotExec},
		// ... or the child's set-up did, on a file without capabilities.
		{"EPERM after a user switch", user, syscall.EPERM, ExitFailure},
		{"EPERM after an ambient raise", ambient, syscall.EPERM, ExitFailure},
		{"EPERM creating namespaces", clone, syscall.EPERM, ExitFailure},
		{"EINVAL: an unmapped id", user, syscall.EINVAL, ExitFailure},
		{"EAGAIN: pids limit", none, syscall.EAGAIN, ExitFailure},
		{"EBADF: cgroup fd", none, syscall.EBADF, ExitFailure},
	} {
		cmd := &exec.Cmd{Path: plain, SysProcAttr: c.attr}
		err := startFailure("prog", cmd, startErr(plain, c.errno))
		var f *Failure
		if !errors.As(err, &f) || f.Status != c.want {
			t.Errorf("%s (%v): %v, want status %d", c.name, c.errno, err, c.want)
			continue
		}
		if !errors.Is(err, c.errno) {
			t.Errorf("%s: %v does not wrap %v", c.name, err, c.errno)
		}
	}
	// With a cgroup fd, clone3 itself says EACCES or ENOENT for the
	// group; the file, still runnable, is not to blame. A script whose
	// interpreter is missing is still 127.
	cgfd := &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: 3}
	badInterp := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(badInterp, []byte("#!/no/such/interpreter\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		path  string
		errno syscall.Errno
		want  int
	}{
		{"clone3 EACCES, runnable file", plain, syscall.EACCES, ExitFailure},
		{"clone3 ENOENT, runnable file", plain, syscall.ENOENT, ExitFailure},
		{"missing interpreter, with a cgroup fd", badInterp, syscall.ENOENT, ExitNotFound},
	} {
		err := startFailure("prog", &exec.Cmd{Path: c.path, SysProcAttr: cgfd}, startErr(c.path, c.errno))
		var f *Failure
		if !errors.As(err, &f) || f.Status != c.want {
			t.Errorf("%s: %v, want status %d", c.name, err, c.want)
		}
	}
	// A Failure of our own (the capability plan on the start thread)
	// keeps its status.
	own := &Failure{Status: ExitFailure, Err: errors.New("caps: thread state differs")}
	if err := startFailure("prog", &exec.Cmd{Path: plain}, own); err != own {
		t.Errorf("own failure: %v", err)
	}
}

// With file capabilities on the program, EPERM after a user switch is
// execve's refusal (capabilities the bounding set cannot grant): 126.
func TestStartFailureFileCaps(t *testing.T) {
	setcap, err := exec.LookPath("setcap")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and setcap (libcap2-bin)")
	}
	prog := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(prog, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(setcap, "cap_net_raw+ep", prog).CombinedOutput(); err != nil {
		t.Skipf("setcap: %v %s", err, out)
	}
	cmd := &exec.Cmd{Path: prog, SysProcAttr: &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534}}}
	var f *Failure
	if err := startFailure("prog", cmd, startErr(prog, syscall.EPERM)); !errors.As(err, &f) || f.Status != ExitNotExec {
		t.Errorf("EPERM on a file with capabilities: %v, want status 126", err)
	}
}

func TestAfterCleanupFailure(t *testing.T) {
	for _, c := range []struct{ status, want int }{{0, ExitFailure}, {3, 3}, {137, 137}, {ExitFailure, ExitFailure}, {1, 1}} {
		if got := afterCleanupFailure(c.status); got != c.want {
			t.Errorf("afterCleanupFailure(%d) = %d, want %d", c.status, got, c.want)
		}
	}
}
