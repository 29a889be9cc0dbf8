package nsjail

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// bindContent binds a read-only file holding data over target. A bind
// needs a source path in this mount namespace (a memfd is refused), so the
// content is written into a small tmpfs mounted for the moment over /tmp
// (mounting over a directory needs no write access to it, and the tree may
// be read-only by now), bound from there, and that tmpfs is detached
// again: the bind keeps its file alive, and /tmp shows what it showed.
func bindContent(data []byte, target string) error {
	const stage = "/tmp"
	if err := unix.Mount("tmpfs", stage, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=1m"); err != nil {
		return fmt.Errorf("stage content: %w", err)
	}
	defer unix.Unmount(stage, unix.MNT_DETACH)
	src := filepath.Join(stage, "content")
	if err := os.WriteFile(src, data, 0o444); err != nil {
		return fmt.Errorf("stage content: %w", err)
	}
	// Read-only for good (the superblock), before the bind, which takes
	// the mount's flags with it: target names the file under the bind
	// (a handle opened before it), so the bind cannot be remounted later.
	if err := unix.Mount("", stage, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("stage content read-only: %w", err)
	}
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind content: %w", err)
	}
	return nil
}
