package nsjail

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// hideDirs mounts an empty read-only tmpfs over each of dirs that exists,
// so the command sees an empty directory it cannot write: rcon hides its
// state directory this way, whose records say what rcon kills and
// removes. Without a capability in the mount namespace's user namespace
// the command cannot unmount it. Inside a chroot the host's directories
// are not reachable (unless bound in, which is not followed here), so
// only runs without one hide anything.
func hideDirs(s *Spec) error {
	if s.Chroot != "" {
		return nil
	}
	for _, d := range s.Hide {
		if fi, err := os.Lstat(d); err != nil || !fi.IsDir() {
			continue // nothing there to see
		}
		d = filepath.Clean(d)
		if err := unix.Mount("tmpfs", d, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0555,size=4k"); err != nil {
			return fmt.Errorf("hide %s: %w", d, err)
		}
	}
	return nil
}
