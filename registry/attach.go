package registry

import (
	"errors"
	"fmt"
	"os"

	"rcon/cgroupfs"
	"rcon/procfs"
	"rcon/sdscope"
)

// Attach moves the processes pids, with all their threads, into the group
// name: a new shared group with limits r if there is none (its members are
// these processes), an existing shared group (they join it; update as in
// Join), or the live group of a single run (they become part of that run
// and end with it). It returns the group, what the join found, and one
// error per pid that could not be moved.
func Attach(parent, name string, r *cgroupfs.Resources, pids []int, update bool) (*cgroupfs.Group, JoinInfo, []error, error) {
	add, name, errs, err := attachMembers(r, pids, name)
	if err != nil {
		return nil, JoinInfo{}, errs, err
	}
	move := func(g *cgroupfs.Group) []Member {
		var moved []Member
		for _, m := range add {
			if err := move(g, m); err != nil {
				errs = append(errs, err)
				continue
			}
			moved = append(moved, m)
		}
		return moved
	}
	g, info, err := join(parent, name, r, add, update, move)
	return g, info, errs, err
}

// attachMembers checks the limits and each pid (attachable), and names
// the group after the first process that may be moved when name is "".
func attachMembers(r *cgroupfs.Resources, pids []int, name string) ([]Member, string, []error, error) {
	if err := r.Check(); err != nil {
		return nil, "", nil, err
	}
	var errs []error
	var add []Member
	for _, pid := range pids {
		m, err := attachable(pid)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		add = append(add, m)
	}
	if len(add) == 0 {
		return nil, "", errs, errors.New("no process to attach")
	}
	if name == "" {
		name = fmt.Sprintf("rcon-attach-%d-%d", add[0].PID, add[0].Start)
	}
	return add, name, errs, nil
}

// attachable checks that pid may be moved by the caller: not pid 1, not
// rcon itself, and (unless root) a process of the caller's own uid.
func attachable(pid int) (Member, error) {
	if pid <= 1 || pid == os.Getpid() {
		return Member{}, fmt.Errorf("pid %d: refusing to move it", pid)
	}
	start, _, err := procfs.StartAndState(pid)
	if err != nil {
		return Member{}, fmt.Errorf("pid %d: no such process", pid)
	}
	if euid := os.Geteuid(); euid != 0 {
		if uid, err := procfs.UID(pid); err != nil || uid != euid {
			return Member{}, fmt.Errorf("pid %d: not your process (only root moves other users' processes)", pid)
		}
	}
	// The pid was looked up in /proc, so it is of /proc's namespace.
	view, err := procView()
	if err != nil {
		return Member{}, err
	}
	m := Member{Owner: Owner{PID: pid, Start: start, PidNS: view.PidNS}, Attached: true}
	if argv, err := procfs.Cmdline(pid); err == nil {
		m.Command = argv
	}
	return m, nil
}

// move moves a member's process, with all its threads, into g, unless
// it exited since it was looked up (its pid may be another's by now).
func move(g *cgroupfs.Group, m Member) error {
	if !m.Alive() {
		return fmt.Errorf("pid %d: exited", m.PID)
	}
	return g.Add(m.PID)
}

// AttachScope is Attach on the systemd driver: the processes go into
// the shared scope name (made in slice's run slice of name if there is
// none), through systemd; a live single run's scope is not joined (its
// end would not be theirs to share). It returns the group's name.
func AttachScope(slice, name string, r *cgroupfs.Resources, pids []int, update bool) (string, JoinInfo, []error, error) {
	// systemd takes pids in its own pid namespace: from below it, the
	// pids looked up here would name other processes there.
	if err := sdscope.CheckPidNS(); err != nil {
		return "", JoinInfo{}, nil, err
	}
	members, name, errs, err := attachMembers(r, pids, name)
	if err != nil {
		return "", JoinInfo{}, errs, err
	}
	c, err := sdscope.Connect()
	if err != nil {
		return "", JoinInfo{}, errs, err
	}
	defer c.Close()
	if err := c.CheckDelegated(r); err != nil {
		return "", JoinInfo{}, errs, err
	}
	// Looked at again after the D-Bus round trips, as move does for
	// cgroupfs: a process that exited since may have left its pid to
	// another, which systemd would move.
	var add []Placement
	for _, m := range members {
		if !m.Alive() {
			errs = append(errs, fmt.Errorf("pid %d: exited", m.PID))
			continue
		}
		add = append(add, Placement{PID: m.PID, Member: m})
	}
	if len(add) == 0 {
		return "", JoinInfo{}, errs, errors.New("no process was moved")
	}
	desc := sdscope.Description("rcon attach", members[0].Command)
	_, info, moveErrs, err := JoinScope(c, name, sdscope.RunSlice(slice, name), desc, r, add, update)
	return name, info, append(errs, moveErrs...), err
}

// DriverOf is the driver of the recorded group name ("" for cgroupfs),
// and whether there is a record: an existing group is joined the way it
// was made.
func DriverOf(name string) (string, bool) {
	rec, err := readRecord(recordPath(name))
	if err != nil {
		return "", false
	}
	return rec.Driver, true
}
