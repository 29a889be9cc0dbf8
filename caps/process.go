package caps

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrCgo is why DropAmbientAllThreads cannot work in this binary: it
// needs syscall.AllThreadsSyscall, which Go refuses (ENOTSUP) in a
// program linked with cgo, whose C threads it cannot reach. Our binaries
// link cgo whenever CGO_ENABLED=1 (os/user then uses the C library), so
// the Makefile and the tests build with CGO_ENABLED=0.
var ErrCgo = errors.New("--map-user without root needs a binary built with CGO_ENABLED=0 (as `make` builds it): " +
	"this one links cgo, and Go cannot change the capabilities of every thread of a cgo program")

// allThreads runs a raw syscall on every thread of the process, turning
// the cgo refusal into ErrCgo.
func allThreads(what string, trap, a1, a2, a3 uintptr) error {
	_, _, e := syscall.AllThreadsSyscall(trap, a1, a2, a3)
	return allThreadsErr(what, e)
}

func allThreadsErr(what string, e syscall.Errno) error {
	switch e {
	case 0:
		return nil
	case syscall.ENOTSUP:
		return fmt.Errorf("%w (%s: syscall.AllThreadsSyscall: %w)", ErrCgo, what, e)
	}
	return fmt.Errorf("%s: %w", what, e)
}

// ProbeAllThreads fails with ErrCgo when this binary cannot change the
// capabilities of every thread (DropAmbientAllThreads). The probe is
// harmless: PR_CAP_AMBIENT_IS_SET on every thread.
func ProbeAllThreads() error {
	return allThreads("probe", unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, unix.CAP_SYS_ADMIN)
}

// DropAmbientAllThreads clears the ambient and inheritable capability
// sets of every thread of the process, so that a command started
// afterwards, from whichever thread, inherits none. It does not work in a
// cgo-linked binary (ErrCgo; ProbeAllThreads tells beforehand).
func DropAmbientAllThreads() error {
	if err := allThreads("clear ambient capabilities", unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); err != nil {
		return err
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	return allThreads("clear inheritable capabilities", unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
}

// HasEffective reports whether the calling thread holds capability c in
// its effective set (true when capget fails: the kernel decides then).
func HasEffective(c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return true
	}
	return data[c/32].Effective&(1<<(c%32)) != 0
}
