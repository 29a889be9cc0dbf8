package nsjail

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// protectedPaths are made read-only (recursively, every submount) for a
// command that stays uid 0 without CAP_SYS_ADMIN (Spec.ProtectSys). uid 0
// owns these files, and writing most of them needs no capability beyond
// that ownership: the cgroup control files (its own quota, the root
// group's tasks), many sysctls, /proc/sysrq-trigger. The /proc entries are
// the ones docker makes read-only.
var protectedPaths = []string{"/sys", "/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/proc/fs", "/proc/irq"}

// fdPath names an open file by its descriptor, for the syscalls that take
// a path: the kernel resolves it to exactly that file, with no further
// lookup that a symlink could redirect.
func fdPath(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

// openRoot opens dir as the root that mount targets are resolved in.
func openRoot(dir string) (*os.File, error) {
	f, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return f, nil
}

// mountTarget returns an O_PATH handle to dst resolved inside root, a
// directory (dir) or a file, creating what is missing. Symlinks on the way
// are resolved as if root were "/": a chroot directory owned by someone
// else may hold `etc -> /etc`, and a plain MkdirAll or OpenFile on
// root+"/etc/x" would create /etc/x on the host.
func mountTarget(root *os.File, dst string, dir bool) (*os.File, error) {
	if dir {
		return pathrs.MkdirAllHandle(root, dst, 0o755)
	}
	if h, err := pathrs.OpenatInRoot(root, dst); err == nil || !errors.Is(err, os.ErrNotExist) {
		return h, err
	}
	parent, err := pathrs.MkdirAllHandle(root, filepath.Dir(dst), 0o755)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	base := filepath.Base(dst)
	fd, err := unix.Openat(int(parent.Fd()), base, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err == nil {
		unix.Close(fd)
	} else if !errors.Is(err, unix.EEXIST) {
		return nil, err
	}
	fd, err = unix.Openat(int(parent.Fd()), base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), dst), nil
}

// readOnlyTree makes the mount at path and every mount beneath it
// read-only. A read-only bind remount (MS_BIND|MS_REMOUNT|MS_RDONLY)
// changes only the top mount: the submounts a recursive bind carried along
// stay writable. mount_setattr (Linux 5.12) does the whole tree at once;
// older kernels get each mount remounted in turn, from /proc/self/mountinfo.
func readOnlyTree(path string) error {
	err := unix.MountSetattr(unix.AT_FDCWD, path, unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("mount_setattr(%s, MOUNT_ATTR_RDONLY, AT_RECURSIVE): %w", path, err)
	}
	// mountinfo names mount points by path: turn a handle's name into one.
	if strings.HasPrefix(path, "/proc/self/fd/") {
		if path, err = os.Readlink(path); err != nil {
			return fmt.Errorf("read-only: %w", err)
		}
	}
	points, err := mountsUnder(path)
	if err != nil {
		return err
	}
	for _, p := range points {
		if err := remountReadOnly(p); err != nil {
			return err
		}
	}
	return nil
}

// mountsUnder lists the mount points at or below path, parents first (in
// mountinfo order, which lists a mount after the one it is mounted on).
func mountsUnder(path string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read-only %s: %w", path, err)
	}
	defer f.Close()
	prefix := strings.TrimSuffix(path, "/") + "/"
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescapeMountinfo(fields[4])
		if p == path || strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read-only %s: mountinfo: %w", path, err)
	}
	return out, nil
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space,
// \011, \012, \134) in a mountinfo path.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, ok := octal(s[i+1 : i+4]); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal(s string) (byte, bool) {
	if len(s) != 3 {
		return 0, false
	}
	var v int
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		v = v*8 + int(c-'0')
	}
	return byte(v), v < 256
}

// remountReadOnly remounts one bind mount read-only. It must keep the
// flags the kernel locks in a user namespace (nosuid, nodev, noexec,
// atime), or the remount fails with EPERM.
func remountReadOnly(dst string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dst, &st); err != nil {
		return fmt.Errorf("read-only %s: statfs: %w", dst, err)
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	if err := unix.Mount("", dst, "", flags, ""); err != nil {
		return fmt.Errorf("remount %s read-only: %w", dst, err)
	}
	return nil
}

// protectSys binds each of protectedPaths that exists onto itself and
// makes the copy read-only with all its submounts. Binding first means
// only that copy changes, never a mount it happens to sit in (a chroot
// without its own /sys, say). It runs in the final root.
func protectSys() error {
	for _, p := range protectedPaths {
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("read-only %s: bind onto itself: %w", p, err)
		}
		if err := readOnlyTree(p); err != nil {
			return err
		}
	}
	return nil
}

// HidesCgroupfs reports whether s keeps the command from the host's
// cgroupfs: a tmpfs over /sys/fs/cgroup or above it, or cgroupfs
// read-only (ProtectSys, ReadOnlyRoot). Such a sandbox must not let the command make a user
// namespace of its own: there it could mount the cgroup hierarchy afresh,
// writable, and reach the files it was kept from (DisableUserNS), nor
// reach a systemd manager, which would lift the limits for it (the
// launcher hides the sockets).
func (s *Spec) HidesCgroupfs() bool {
	if s.ProtectSys || s.ReadOnlyRoot {
		return true
	}
	for _, t := range s.Tmpfs {
		t = filepath.Clean(t)
		if t == "/" || t == "/sys" || t == "/sys/fs" || t == "/sys/fs/cgroup" {
			return true
		}
	}
	return false
}

// maxUserNamespaces is the per-user-namespace limit on nested user
// namespaces; 0 stops any from being made below the current one, and only
// CAP_SYS_RESOURCE in that namespace may raise it again.
const maxUserNamespaces = "/proc/sys/user/max_user_namespaces"

// DisableUserNS stops the processes of the current user namespace from
// creating nested ones, as bubblewrap's --disable-userns does. It must run
// inside a user namespace of our own (the limit is per namespace; writing
// it outside would change the host's) with CAP_SYS_RESOURCE there.
func DisableUserNS() error {
	if err := os.WriteFile(maxUserNamespaces, []byte("0\n"), 0); err != nil {
		return fmt.Errorf("disable nested user namespaces: %w", err)
	}
	return nil
}
