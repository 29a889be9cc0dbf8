package cli

import (
	"rcon/launch"
	"rcon/nsjail"
)

// applyNS fills s.NS from --unshare, --hostname, --map-user, --ro-bind,
// --bind, --tmpfs, --chroot, --ro-root. --unshare replaces the namespaces a profile
// chose; the mount flags add to its mounts.
func (c *Common) applyNS(s *launch.Spec, set map[string]bool) error {
	if !(set["unshare"] || set["hostname"] || set["map-user"] || set["ro-bind"] || set["bind"] || set["tmpfs"] || set["chroot"] || set["ro-root"]) {
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
	if set["ro-root"] {
		ns.ReadOnlyRoot = c.ReadOnlyRoot
	}
	if err := ns.Normalize(); err != nil {
		return usage("%v", err)
	}
	return nil
}
