package launch

import (
	"errors"
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
	g, err := cgroupfs.Open("g", cgroupfs.V2, []string{dir}, false)
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
