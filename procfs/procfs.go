// Package procfs reads what rcon needs to know about processes from
// /proc: a task's state, parent and start time (/proc/PID/stat), the
// pids it has in nested pid namespaces (NSpid in /proc/PID/status), its
// pid namespace, owner and command line. Each is read in one place, so
// that the quirks of these files (a command name that holds spaces and
// parentheses, a /proc that is another pid namespace's) are handled once.
package procfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// StatFields splits the contents of /proc/PID/stat after the command name
// (field 2, which may hold spaces and parentheses, so it ends at the last
// ')'): [0] is the state, [1] the parent pid, [19] the start time. Nil
// if malformed.
func StatFields(data []byte) []string {
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

func statFields(pid int) ([]string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	return StatFields(data), nil
}

// StartAndState reads a process's start time (in clock ticks since boot)
// and its state ("R", "S", "Z", ...).
func StartAndState(pid int) (uint64, string, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, "", err
	}
	if len(f) < 20 {
		return 0, "", fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	return st, f[0], err
}

// Parent reads a process's parent pid (0 for a process whose parent is
// outside its pid namespace).
func Parent(pid int) (int, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	return strconv.Atoi(f[1])
}

// statusLines reads the fields of the lines keys of /proc/PID/status (pid
// is a number or "self"), one read; a key the kernel has no line for is
// nil.
func statusLines(pid string, keys ...string) ([][]string, error) {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return nil, err
	}
	out := make([][]string, len(keys))
	for _, line := range strings.Split(string(data), "\n") {
		for i, key := range keys {
			if v, ok := strings.CutPrefix(line, key+":"); ok {
				out[i] = strings.Fields(v)
			}
		}
	}
	return out, nil
}

// NSpid reads the NSpid line of /proc/PID/status (pid is a number or
// "self"): the process's pid in each pid namespace from that of /proc
// down to its own. Nil on kernels before 4.1, which have no such line.
func NSpid(pid string) ([]string, error) {
	l, err := statusLines(pid, "NSpid")
	if err != nil {
		return nil, err
	}
	return l[0], nil
}

// TracerPid is the pid of the process ptracing pid (0: none), and its
// effective uid (Uid line of /proc/PID/status).
func TracerPid(pid string) (tracer, euid int, err error) {
	l, err := statusLines(pid, "TracerPid", "Uid")
	if err != nil {
		return 0, 0, err
	}
	t, u := l[0], l[1]
	if len(t) != 1 || len(u) < 2 {
		return 0, 0, fmt.Errorf("/proc/%s/status: malformed", pid)
	}
	if tracer, err = strconv.Atoi(t[0]); err == nil {
		euid, err = strconv.Atoi(u[1])
	}
	return tracer, euid, err
}

// PidNS is the inode of the pid namespace of a process (pid is a number
// or "self").
func PidNS(pid string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+pid+"/ns/pid", &st); err != nil {
		return 0, fmt.Errorf("pid namespace of %s: %w", pid, err)
	}
	return st.Ino, nil
}

// UID is the uid that owns a process's /proc directory: its effective
// uid, dumpable or not (the kernel keeps that for ps).
func UID(pid int) (int, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(pid), &st); err != nil {
		return 0, err
	}
	return int(st.Uid), nil
}

// DumpOwner is the uid that owns the files in a process's /proc
// directory: its effective uid while it is dumpable, else the uid its
// user namespace's root maps to (RootOf).
func DumpOwner(pid int) (int, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(pid)+"/stat", &st); err != nil {
		return 0, err
	}
	return int(st.Uid), nil
}

// RootOf is the uid (in the reader's user namespace) that uid 0 of pid's
// user namespace maps to: 0 without a user namespace, or when its root is
// unmapped, as the kernel counts it for an undumpable process's /proc
// directory. uid_map is readable by anyone, undumpable or not.
func RootOf(pid string) int {
	data, err := os.ReadFile("/proc/" + pid + "/uid_map")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		in, e1 := strconv.ParseUint(f[0], 10, 32)
		out, e2 := strconv.ParseUint(f[1], 10, 32)
		n, e3 := strconv.ParseUint(f[2], 10, 32)
		if e1 == nil && e2 == nil && e3 == nil && in == 0 && n > 0 {
			return int(out)
		}
	}
	return 0
}

// Cmdline reads a process's arguments.
func Cmdline(pid int) ([]string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(data), "\x00"), "\x00"), nil
}
