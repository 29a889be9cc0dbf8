// Package launch runs one command as a spec.Spec describes it: in a fresh
// cgroup, with pruned capabilities, in new namespaces, as another user.
// The CLIs and the profile loader only build the Spec; everything
// privileged happens here, in the order run reads from top to bottom.
package launch

import (
	"rcon/cgroupfs"
	"rcon/nsjail"
	"rcon/spec"
)

// job is one run being carried out: the Spec it was given, which it
// never changes, and what the launcher derives from it on the way.
type job struct {
	*spec.Spec
	// jail is the namespaces the command gets: the spec's, normalized,
	// with what the run adds (a read-only /sys for a powerless root,
	// --fit's files and the mount namespace they need, the hidden state
	// directory). nil: none.
	jail *nsjail.Spec
	// limits are those in force: the spec's, or a shared group's once
	// joined (the report shows what held).
	limits cgroupfs.Resources
	// fitShown says what --fit told the command, for --stats.
	fitShown string
	// viaInit: the command's place is taken by the namespace init (see
	// nsPrepare); decided once by check.
	viaInit bool
	// scope: the group is a systemd scope (sdscope), decided once by
	// check (chooseDriver). noScope says why the default driver did not
	// choose one on a systemd host (no manager to reach), for the
	// cgroupfs driver's refusal.
	scope   bool
	noScope string
}

func newJob(s *spec.Spec) *job {
	return &job{Spec: s, jail: s.Jail(), limits: s.Resources}
}

func (s *job) tool() string { return s.ToolName() }
