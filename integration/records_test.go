package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// inPidNS runs script with sh inside a new pid namespace (capcon, whose
// init is its PID 1), with a fresh /proc when fresh is set (a mount
// namespace too), and returns the result. $RCON is the rcon binary.
func inPidNS(t *testing.T, fresh bool, script string) result {
	t.Helper()
	unshare := "pid"
	if fresh {
		unshare = "pid,mount"
	}
	return tool(t, "capcon", "--unshare", unshare, "--", "env", "RCON="+filepath.Join(binDir, "rcon"), "sh", "-c", script)
}

// TestOwnersAcrossPidNamespaces: an rcon inside a pid namespace with a
// fresh /proc sees none of the host's rcons, and one with the host's
// /proc sees the host's pids under its own getpid(). Neither may judge
// the other's owners by the wrong pids: a live host member of a shared
// group must not be dropped by a joiner (or a sweep) inside, and a run
// killed inside must be collectable from the host (it was recorded as
// "pid 2", the host's kthreadd, alive for ever).
func TestOwnersAcrossPidNamespaces(t *testing.T) {
	needRoot(t)
	shared := fmt.Sprintf("rcontest-pidns-%d", os.Getpid())
	orphIn := fmt.Sprintf("rcontest-pidns-in-%d", os.Getpid())
	orphHost := fmt.Sprintf("rcontest-pidns-host-%d", os.Getpid())
	for _, n := range []string{shared, orphIn, orphHost} {
		cleanupGroup(t, n)
	}
	_, pid := startRcon(t, append([]string{"--shared", shared, "--cpu", "30", "--"}, helperArgs(t, "ready", "30")...)...)

	// Inside, with a fresh /proc: a start-up sweep, a join and leave of
	// the host's shared group, then an orphan of the namespace's own
	// (its rcon killed, its command left running) that gc --kill must
	// still collect.
	r := inPidNS(t, true, `grep NSpid /proc/self/status
		"$RCON" --cpu 50 -- true || echo "plain run failed"
		"$RCON" --shared `+shared+` -- true || echo "join failed"
		"$RCON" --name `+orphIn+` -- sh -c 'kill -9 $PPID; exec sleep 30'
		"$RCON" gc --kill`)
	if strings.Contains(r.Stdout, "failed") || strings.Count(strings.TrimPrefix(r.Stdout, "NSpid:"), "\t") > 1 {
		t.Errorf("runs inside a fresh pid namespace: %q %q", r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stdout, "removed "+orphIn) {
		t.Errorf("gc --kill inside the namespace did not collect its own orphan %s: %q %q", orphIn, r.Stdout, r.Stderr)
	}
	if strings.Contains(r.Stdout, shared) {
		t.Errorf("gc inside the namespace judged the host's group %s: %q", shared, r.Stdout)
	}
	g := psGroupNamed(t, shared)
	switch {
	case g == nil:
		t.Errorf("the host's shared group %s lost its record", shared)
	case len(g.Members) != 1 || !g.Members[0].Alive:
		t.Errorf("the host's shared group %s: members %+v; want its live host member only", shared, g.Members)
	}
	if ok, why := inGroup(pid, shared); !ok {
		t.Errorf("the host's command left its group: %s", why)
	}

	// Inside, with the host's /proc: a run killed there leaves a record
	// the host's gc must be able to judge dead.
	inPidNS(t, false, `"$RCON" --name `+orphHost+` -- sh -c 'kill -9 $PPID; exec sleep 30'`)
	r = rcon(t, "gc", "--kill")
	if !strings.Contains(r.Stdout, "removed "+orphHost) {
		t.Errorf("host gc did not collect %s, killed inside a pid namespace with the host's /proc: %q %q", orphHost, r.Stdout, r.Stderr)
	}
}
