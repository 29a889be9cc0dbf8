package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"rcon/export"
	"rcon/profiles"
	"rcon/spec"
)

// ExportCmd is `rcon profile export NAME --to TARGET [-- COMMAND]` (and
// capcon's): the profile in another engine's terms on standard output,
// one warning a line on standard error for each setting the target cannot
// express. Exit 0 with warnings; 125 for a profile that does not load, an
// unknown target (kong's enum check) or a profile the target cannot take.
type ExportCmd struct {
	Name    string   `arg:"" help:"Profile name or file."`
	To      string   `name:"to" required:"" enum:"systemd,oci,kubernetes,nomad,slurm" placeholder:"TARGET" help:"What to write: systemd (a service unit), oci (config.json), kubernetes (a container), nomad (a docker task), slurm (#SBATCH lines)."`
	Command []string `arg:"" optional:"" passthrough:"" help:"A command to write in place of the profile's [run] command."`
}

// Run loads the profile, converts it and prints the result.
func (c *ExportCmd) Run(tool string) int {
	p, err := profiles.Load(c.Name)
	if err != nil {
		return Exit(tool, usage("profile export: %v", err))
	}
	argv := c.Command
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	in, err := exportInput(tool, p, argv)
	if err != nil {
		return Exit(tool, usage("profile export: %v", err))
	}
	res, err := export.Export(c.To, in)
	if err != nil {
		return Exit(tool, usage("profile export %s: %v", p.Path, err))
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(os.Stderr, "%s: export %s: warning: %s\n", tool, c.To, w)
	}
	fmt.Print(res.Text)
	return 0
}

// exportInput is the one place a loaded profile becomes export's input:
// the spec the profile's layer makes (with argv, if given, in place of the
// profile's command), as a run makes it before flags, and its fields
// copied. For capcon no_new_privs is on unless the profile turns it off,
// as capcon runs.
func exportInput(tool string, p *profiles.Profile, argv []string) (*export.Input, error) {
	l, err := p.Layer()
	if err != nil {
		return nil, err
	}
	var cmd spec.Layer
	if len(argv) > 0 {
		cmd.Argv = spec.Val(argv, "--")
	}
	s := spec.Assemble(tool, l, cmd)
	r := &s.Resources
	in := &export.Input{
		Name: s.Name, Argv: s.Argv, User: s.User, Group: s.Group, Groups: s.Groups,
		Limits: export.Limits{CPUPercent: r.CPUPercent, CPUPeriodUS: r.CPUPeriod, CPUWeight: r.CPUWeight,
			Cpuset: r.Cpuset, Mem: r.Mem, MemHigh: r.MemHigh, Swap: r.Swap, SwapSet: r.SwapSet, Pids: r.Pids},
		Source: p.Path, MHzPerCPU: export.HostMHzPerCPU(),
	}
	if in.Name == "" {
		in.Name = s.Shared
	}
	if in.Name == "" {
		in.Name = strings.TrimSuffix(filepath.Base(p.Path), ".toml")
	}
	for _, l := range r.IO {
		in.Limits.IO = append(in.Limits.IO, export.IO{Major: l.Major, Minor: l.Minor, Kind: l.Kind, Rate: l.Rate})
	}
	if c := s.Caps; c != nil {
		in.Caps = export.Caps{Prune: c.ChangesSets(), Keep: c.Keep, Drop: c.Drop, NoNewPrivs: !c.AllowNewPrivs}
	} else {
		in.Caps.NoNewPrivs = tool == "capcon"
	}
	if ns := s.NS; ns != nil {
		in.NS = export.NS{PID: ns.PID, Mount: ns.Mount, Net: ns.Net, UTS: ns.UTS, IPC: ns.IPC, User: ns.User || ns.MapUser,
			Cgroup: ns.Cgroup, Hostname: ns.Hostname, ReadOnlyRoot: ns.ReadOnlyRoot, Tmpfs: ns.Tmpfs, Chroot: ns.Chroot}
		for _, b := range ns.RoBind {
			in.NS.RoBind = append(in.NS.RoBind, export.Bind{Src: b.Src, Dst: b.Dst})
		}
		for _, b := range ns.Bind {
			in.NS.Bind = append(in.NS.Bind, export.Bind{Src: b.Src, Dst: b.Dst})
		}
		// Implied namespaces, as the launcher implies them.
		in.NS.UTS = in.NS.UTS || ns.Hostname != ""
		in.NS.Mount = in.NS.Mount || len(ns.RoBind)+len(ns.Bind)+len(ns.Tmpfs) > 0 || ns.Chroot != "" || ns.ReadOnlyRoot
		if ns.MapUser {
			in.RconOnly = append(in.RconOnly, "run.map_user")
		}
	}
	for _, o := range []struct {
		set bool
		key string
	}{{s.Parent != "", "run.parent"}, {s.Slice != "", "run.slice"}, {s.Shared != "", "run.shared"}, {s.WaitAll, "run.wait_all"},
		{s.Fit, "run.fit"}, {s.Stats, "run.stats"}, {s.StatsJSON != "", "run.stats_json"}} {
		if o.set {
			in.RconOnly = append(in.RconOnly, o.key)
		}
	}
	return in, nil
}
