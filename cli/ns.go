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
	l.Hostname, l.MapUser = flag(set, "hostname", c.Hostname), flag(set, "map-user", c.MapUser)
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
	l.Chroot, l.ReadOnlyRoot = flag(set, "chroot", c.Chroot), flag(set, "ro-root", c.ReadOnlyRoot)
	return nil
}
