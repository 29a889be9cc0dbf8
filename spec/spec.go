// Package spec is what one run of rcon or capcon is to do: the Spec, plain
// data carried out by package launch and never rewritten there, and the
// one way it is made. Each source of settings (the built-in defaults, a
// profile with its includes, the environment and the flags) gives a Layer
// of optional values; Build overlays them in that order (Overlay, the only
// place precedence is decided) and checks the result once (Validate, the
// home of every rule that spans settings or layers).
package spec

import (
	"rcon/caps"
	"rcon/cgroupfs"
	"rcon/nsjail"
)

// Spec describes one run. Build makes it; launch.Run carries it out and
// keeps what it derives (the namespaces it adds, the limits a shared group
// holds) apart.
type Spec struct {
	// Argv is exec'd directly (no shell); Argv[0] is looked up in PATH.
	Argv []string `json:"argv"`

	// NoCgroup runs without a group (capcon without limits).
	NoCgroup bool `json:"no_cgroup,omitempty"`
	// Name of the group; empty means unique per run.
	Name string `json:"name,omitempty"`
	// Parent overrides where groups are created (see cgroupfs.Create).
	Parent string `json:"parent,omitempty"`
	// Driver picks what holds the group: "cgroupfs" (rcon's own
	// directories), "systemd" (a transient scope, package sdscope) or
	// "auto", also for "" (systemd where sdscope.Auto says).
	Driver string `json:"driver,omitempty"`
	// Slice is the systemd slice of the scope (empty: sdscope.DefaultSlice).
	Slice string `json:"slice,omitempty"`
	// Shared names a group that concurrent runs share: the first creates
	// it, the others join it, the last one out removes it (see
	// registry.Join). Exclusive with Name and WaitAll.
	Shared string `json:"shared,omitempty"`
	// Update writes Resources over the limits of an existing shared group
	// instead of keeping them (with a warning).
	Update bool `json:"update,omitempty"`
	// Resources are the limits.
	Resources cgroupfs.Resources `json:"limits"`
	// WaitAll waits for the whole group to empty instead of killing what
	// the command leaves behind.
	WaitAll bool `json:"wait_all,omitempty"`
	// Fit tells the command the CPUs and memory its limits allow instead
	// of the host's (package fit): environment variables, and files bound
	// in a mount namespace it implies.
	Fit bool `json:"fit,omitempty"`

	// User, Group and Groups switch identity; empty keeps the caller's.
	User   string   `json:"user,omitempty"`
	Group  string   `json:"group,omitempty"`
	Groups []string `json:"groups,omitempty"`

	// Caps prunes capabilities (nil: leave them alone).
	Caps *caps.Spec `json:"caps,omitempty"`
	// NS unshares namespaces (nil: none).
	NS *nsjail.Spec `json:"namespaces,omitempty"`

	// Stats prints a summary on stderr at exit; StatsJSON writes it as JSON.
	Stats     bool   `json:"stats,omitempty"`
	StatsJSON string `json:"stats_json,omitempty"`

	// Tool is the name used in messages ("rcon", "capcon").
	Tool string `json:"-"`
}

// ToolName is the name messages start with.
func (s *Spec) ToolName() string {
	if s.Tool == "" {
		return "rcon"
	}
	return s.Tool
}
