package cgroupfs

import cgroups "github.com/containerd/cgroups/v3"

// ModeName describes the cgroup layout of this host for people (rcon
// --version, bug reports): Detect folds hybrid into V1 because that is
// where the controllers live, but a report should say which it was.
func ModeName() string {
	switch cgroups.Mode() {
	case cgroups.Legacy:
		return "v1 (legacy: every controller in a v1 hierarchy)"
	case cgroups.Hybrid:
		return "v1 (hybrid: controllers in v1 hierarchies, an empty v2 one beside them)"
	case cgroups.Unified:
		return "v2 (unified)"
	}
	return "none (no cgroup filesystem at " + Mountpoint + ")"
}
