package cli

import (
	"fmt"
	"os"
	"strings"

	"rcon/caps"
	"rcon/launch"
	"rcon/nsjail"
	"rcon/profiles"
)

// applyCaps fills s.Caps from --keep/--drop/--no-new-privs/--allow-new-privs.
// A Spec with neither keep nor drop changes no set and only sets
// no_new_privs.
func (c *Common) applyCaps(s *launch.Spec, set map[string]bool) error {
	if set["keep"] && set["drop"] {
		return usage("--keep and --drop are exclusive")
	}
	if set["no-new-privs"] && set["allow-new-privs"] {
		return usage("--no-new-privs and --allow-new-privs are exclusive")
	}
	if !(set["keep"] || set["drop"] || set["no-new-privs"] || set["allow-new-privs"]) {
		return nil
	}
	if s.Caps == nil {
		s.Caps = &caps.Spec{}
	}
	if set["keep"] {
		s.Caps.Keep, s.Caps.KeepSet, s.Caps.Drop = splitList(c.Keep), true, nil
	}
	if set["drop"] {
		s.Caps.Drop, s.Caps.Keep, s.Caps.KeepSet = splitList(c.Drop), nil, false
	}
	if set["no-new-privs"] {
		s.Caps.AllowNewPrivs = false
	}
	if set["allow-new-privs"] {
		s.Caps.AllowNewPrivs = true
	}
	if err := s.Caps.Validate(); err != nil {
		return &Usage{err} // names the flag and the capability itself
	}
	return nil
}

// applyNS fills s.NS from --unshare, --hostname, --map-user, --ro-bind,
// --bind, --tmpfs, --chroot. --unshare replaces the namespaces a profile
// chose; the mount flags add to its mounts.
func (c *Common) applyNS(s *launch.Spec, set map[string]bool) error {
	if !(set["unshare"] || set["hostname"] || set["map-user"] || set["ro-bind"] || set["bind"] || set["tmpfs"] || set["chroot"]) {
		return nil
	}
	if s.NS == nil {
		s.NS = &nsjail.Spec{}
	}
	ns := s.NS
	if set["unshare"] {
		picked, err := nsjail.Parse(c.Unshare)
		if err != nil {
			return usage("--unshare: %v", err)
		}
		ns.PID, ns.Mount, ns.Net, ns.UTS = picked.PID, picked.Mount, picked.Net, picked.UTS
		ns.IPC, ns.User, ns.Cgroup = picked.IPC, picked.User, picked.Cgroup
	}
	if set["hostname"] {
		ns.Hostname = c.Hostname
	}
	if set["map-user"] {
		ns.MapUser = c.MapUser
	}
	for _, b := range []struct {
		dst  *[]nsjail.Bind
		args []string
	}{{&ns.RoBind, c.RoBind}, {&ns.Bind, c.Bind}} {
		for _, a := range b.args {
			bd, err := nsjail.ParseBind(a)
			if err != nil {
				return usage("%v", err)
			}
			*b.dst = append(*b.dst, bd)
		}
	}
	ns.Tmpfs = append(ns.Tmpfs, c.Tmpfs...)
	if set["chroot"] {
		ns.Chroot = c.Chroot
	}
	if err := ns.Normalize(); err != nil {
		return usage("%v", err)
	}
	return nil
}

// applyProfile loads the profile named by --profile into s. Any problem
// with it is bad input: exit 125 before anything is created.
func applyProfile(s *launch.Spec, name string) error {
	if name == "" {
		return nil
	}
	p, err := profiles.Load(name)
	if err != nil {
		return usage("--profile: %v", err)
	}
	if err := p.Apply(s); err != nil {
		return usage("--profile: %v", err)
	}
	return nil
}

// ProfileCmd is `rcon profile check FILES...` and `rcon profile show NAME`.
type ProfileCmd struct {
	Check struct {
		Files []string `arg:"" help:"Profile names or files to validate."`
	} `cmd:"" help:"Validate profiles and print their effective settings."`
	Show struct {
		Name string `arg:"" help:"Profile name or file."`
	} `cmd:"" help:"Print a profile merged with its includes, as TOML."`
}

// Run validates (check) or prints (show) profiles. check goes on past a
// bad file so one run reports them all.
func (c *ProfileCmd) Run(tool, sub string) int {
	names := c.Check.Files
	if strings.HasPrefix(sub, "profile show") {
		names = []string{c.Show.Name}
	}
	status := 0
	for _, n := range names {
		p, err := profiles.Load(n)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", tool, err)
			status = launch.ExitFailure
			continue
		}
		if len(names) > 1 || strings.HasPrefix(sub, "profile check") {
			fmt.Printf("# %s: ok\n", p.Path)
		}
		fmt.Print(p.TOML())
	}
	return status
}

// ShowCmd is `capcon show [PID]`.
type ShowCmd struct {
	PID  int  `arg:"" optional:"" help:"Process to decode (default: capcon itself, with its securebits)."`
	JSON bool `name:"json" help:"Print JSON."`
}

// Run prints the sets of the process, decoded as capsh --decode would.
func (c *ShowCmd) Run(tool string) int {
	st, err := caps.ReadStatus(c.PID)
	if err != nil {
		return Exit(tool, err)
	}
	fmt.Print(caps.FormatStatus(st, c.JSON))
	return 0
}
