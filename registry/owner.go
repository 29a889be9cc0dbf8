package registry

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"rcon/procfs"
)

// Owner identifies the rcon process that owns a group. A pid alone can be
// reused after the owner dies; pid plus start time (in clock ticks since
// boot, /proc/PID/stat field 22) cannot. A pid means something only in
// one pid namespace: PID is the pid as the /proc rcon sees shows it, and
// PidNS the inode of that /proc's pid namespace (0 in records of older
// rcons, which ran in the initial one as far as can be told).
type Owner struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
	PidNS uint64 `json:"pidns,omitempty"`
}

// initPidNS is the inode of the initial pid namespace (the kernel's fixed
// PROC_PID_INIT_INO).
const initPidNS = 0xEFFFFFFC

// procView is how this process sees pids through /proc: its own pid there
// and the pid namespace /proc belongs to. Inside a pid namespace /proc
// may still be the host's (getpid() says 2, /proc/2 is someone else) or
// a fresh one (every host pid is missing): rcon names itself, and judges
// owners, in /proc's terms only.
var procView = sync.OnceValues(func() (view Owner, err error) {
	nspid, err := procfs.NSpid("self")
	if err != nil {
		return view, fmt.Errorf("read /proc/self/status: %w", err)
	}
	if len(nspid) == 0 { // kernels before 4.1: /proc is taken to be ours
		nspid = []string{strconv.Itoa(os.Getpid())}
	}
	// NSpid lists the pid from /proc's namespace down to our own: one
	// entry means /proc is of our namespace; more, of an ancestor's.
	if view.PID, err = strconv.Atoi(nspid[0]); err != nil {
		return view, fmt.Errorf("/proc/self/status: NSpid %q: %w", nspid, err)
	}
	if len(nspid) == 1 {
		view.PidNS, err = procfs.PidNS("self")
		return view, err
	}
	view.PidNS, err = ancestorPidNS(view.PID)
	return view, err
})

// ancestorPidNS finds the pid namespace of /proc when it is not ours: that
// of the nearest ancestor process /proc shows as being in it (one NSpid
// entry) whose namespace link we may read (/proc/1's often is not: init
// is more privileged).
func ancestorPidNS(pid int) (uint64, error) {
	for i := 0; i < 64 && pid > 1; i++ {
		var err error
		if pid, err = procfs.Parent(pid); err != nil || pid == 0 {
			break
		}
		nspid, err := procfs.NSpid(strconv.Itoa(pid))
		if err != nil {
			break
		}
		if len(nspid) == 1 {
			if ns, err := procfs.PidNS(strconv.Itoa(pid)); err == nil {
				return ns, nil
			}
		}
	}
	return 0, errors.New("this pid namespace's /proc is an outer namespace's, which cannot be identified from here: mount a /proc of its own (rcon --unshare pid,mount does)")
}

// Self is the calling process as an Owner.
func Self() (Owner, error) {
	o, err := procView()
	if err != nil {
		return Owner{}, err
	}
	if o.Start, _, err = procfs.StartAndState(o.PID); err != nil {
		return Owner{}, err
	}
	return o, nil
}

// visible tells whether this process can judge the owner: its pid is of
// the pid namespace this process's /proc shows.
func (o Owner) visible() bool {
	view, err := procView()
	if err != nil {
		return false
	}
	ns := o.PidNS
	if ns == 0 {
		ns = initPidNS
	}
	return ns == view.PidNS
}

// Alive reports whether the owner process still runs. A zombie does not:
// it can no longer act, and its parent may be slow to reap it. An owner
// of another pid namespace than this process's /proc cannot be looked up,
// so it counts as alive: nothing of its is ever collected from here.
func (o Owner) Alive() bool {
	if !o.visible() {
		return true
	}
	st, state, err := procfs.StartAndState(o.PID)
	return err == nil && st == o.Start && state != "Z" && state != "X"
}
