package nsjail

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// hideDirs mounts an empty read-only tmpfs over each directory of
// s.Hide that exists, so the command sees an empty directory it cannot
// write: rcon hides its state directory this way, whose records say what
// rcon kills and removes. Any other file there (a socket: a systemd
// manager's, which would take requests to lift the command's limits) gets
// /dev/null bound over it, so a connect() is refused. Without a
// capability in the mount namespace's user namespace the command cannot
// unmount either. Inside a chroot the host's paths are not reachable
// (unless bound in, which is not followed here), so only runs without one
// hide anything.
func hideDirs(s *Spec) error {
	if s.Chroot != "" {
		return nil
	}
	for _, d := range s.Hide {
		fi, err := os.Lstat(d)
		if err != nil {
			continue // nothing there to see
		}
		d = filepath.Clean(d)
		switch {
		case fi.IsDir():
			err = unix.Mount("tmpfs", d, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0555,size=4k")
		case fi.Mode()&os.ModeSymlink != 0:
			continue // the caller lists what symlinks resolve to
		default:
			err = unix.Mount("/dev/null", d, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("hide %s: %w", d, err)
		}
	}
	return nil
}
