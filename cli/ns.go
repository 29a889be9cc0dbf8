package cli

import (
	"rcon/nsjail"
	"rcon/spec"
)

// nsLayer adds --unshare, --hostname, --map-user, --ro-bind, --bind,
// --tmpfs, --chroot and --ro-root to l. --unshare replaces the namespaces
// a profile chose; the mount flags add to its mounts.
func (c *Common) nsLayer(l *spec.Layer, set map[string]bool) error {
	if set["unshare"] {
		picked, err := nsjail.Parse(c.Unshare)
		if err != nil {
			return usage("--unshare: %v", err)
		}
		l.Unshare = spec.Val(picked, "--unshare")
	}
	if set["hostname"] {
		l.Hostname = spec.Val(c.Hostname, "--hostname")
	}
	if set["map-user"] {
		l.MapUser = spec.Val(c.MapUser, "--map-user")
	}
	for _, b := range []struct {
		dst  *[]nsjail.Bind
		args []string
	}{{&l.RoBind, c.RoBind}, {&l.Bind, c.Bind}} {
		for _, a := range b.args {
			bd, err := nsjail.ParseBind(a)
			if err != nil {
				return usage("%v", err)
			}
			*b.dst = append(*b.dst, bd)
		}
	}
	l.Tmpfs = append(l.Tmpfs, c.Tmpfs...)
	if set["chroot"] {
		l.Chroot = spec.Val(c.Chroot, "--chroot")
	}
	if set["ro-root"] {
		l.ReadOnlyRoot = spec.Val(c.ReadOnlyRoot, "--ro-root")
	}
	return nil
}
