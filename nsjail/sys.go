package nsjail

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"rcon/caps"
)

// CloneFlags returns the CLONE_NEW* flags for the namespaces s selects.
func (s *Spec) CloneFlags() uintptr {
	if s == nil {
		return 0
	}
	var f uintptr
	for _, x := range []struct {
		on   bool
		flag uintptr
	}{
		{s.PID, unix.CLONE_NEWPID}, {s.Mount, unix.CLONE_NEWNS}, {s.Net, unix.CLONE_NEWNET},
		{s.UTS, unix.CLONE_NEWUTS}, {s.IPC, unix.CLONE_NEWIPC}, {s.User, unix.CLONE_NEWUSER},
		{s.Cgroup, unix.CLONE_NEWCGROUP},
	} {
		if x.on {
			f |= x.flag
		}
	}
	return f
}

// NeedsInit reports whether s needs a separate process inside the namespaces
// (our PID-1 init) rather than an unshare on the launcher's locked thread:
// a new PID namespace needs a PID 1 that reaps and forwards signals, a new
// user namespace cannot be unshared by a multithreaded process (and the
// capabilities must be pruned inside it), and a new root must be in place
// before the command is looked up. ProtectSys without a user namespace
// too: the init's start thread takes the seccomp filter (DenyUserNS) that
// rcon's own could not, as Go may start the command with clone3 there.
func (s *Spec) NeedsInit() bool {
	return s != nil && (s.PID || s.User || s.Chroot != "" || s.ProtectSys)
}

// NeedsUserNSFilter reports whether the command needs DenyUserNS: its
// cgroupfs is read-only, and there is no user namespace of ours in which
// DisableUserNS could stop nested ones.
func (s *Spec) NeedsUserNSFilter() bool { return s != nil && s.ProtectSys && !s.User }

// SetSysProcAttr sets the clone flags and, for a user namespace, the id
// mappings on attr for a child that enters the namespaces of s. uid and gid
// are the caller's (real) ids. An unprivileged caller (uid != 0) gets one
// mapping: itself to 0 inside, or to itself with MapUser; setgroups is denied
// as the kernel requires. Root gets the identity mapping of the whole id
// range, so that identity switching inside works.
func SetSysProcAttr(attr *syscall.SysProcAttr, s *Spec, uid, gid int) {
	attr.Cloneflags |= s.CloneFlags()
	if !s.User {
		return
	}
	if uid == 0 {
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}}
		attr.GidMappingsEnableSetgroups = true
		return
	}
	inUID, inGID := 0, 0
	if s.MapUser {
		inUID, inGID = uid, gid
	}
	if s.MapUser {
		// A non-root uid loses its capabilities at execve even in its own
		// user namespace; the init keeps the three it needs for SetupInside
		// as ambient capabilities and drops them (DropAmbient) before it
		// starts the command; the third, CAP_SYS_RESOURCE, is what
		// DisableUserNS needs.
		attr.AmbientCaps = append(attr.AmbientCaps, unix.CAP_SYS_ADMIN, unix.CAP_NET_ADMIN, unix.CAP_SYS_RESOURCE)
	}
	attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: inUID, HostID: uid, Size: 1}}
	attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: inGID, HostID: gid, Size: 1}}
	attr.GidMappingsEnableSetgroups = false
}

// UnshareThread unshares the namespaces of s that a locked OS thread of a
// multithreaded process can enter (mount, net, uts, ipc, cgroup) and runs
// SetupInside on that thread. It must run on a thread locked with
// runtime.LockOSThread that is never unlocked (it must exit with its
// goroutine), before capabilities are pruned: children forked from that
// thread are born in the new namespaces. It refuses specs that need an init
// (see NeedsInit).
func UnshareThread(s *Spec) error {
	if s.NeedsInit() {
		return errors.New("nsjail: pid/user namespaces and chroot need the init, not a thread unshare")
	}
	flags := int(s.CloneFlags())
	if s.Mount {
		flags |= unix.CLONE_FS // implied by the kernel; explicit for clarity
	}
	if err := unix.Unshare(flags); err != nil {
		return fmt.Errorf("unshare %s: %w", s, err)
	}
	return SetupInside(s)
}

// SetupInside does, in the current (new) namespaces, what has to happen
// before the command starts: private mount propagation, binds and tmpfs,
// a fresh /proc when both pid and mount namespaces are new, the new root,
// loopback up in a new network namespace, the hostname.
//
// For the PID case it must run in a process that is a member of the new PID
// namespace (the init), since procfs shows the mounter's PID namespace.
func SetupInside(s *Spec) error {
	if s.User && s.HidesCgroupfs() {
		// Before /proc/sys may become read-only.
		if err := DisableUserNS(); err != nil {
			return err
		}
	}
	if s.Mount {
		if err := setupMounts(s); err != nil {
			return err
		}
	}
	if s.Net {
		if err := LoopbackUp(); err != nil {
			return err
		}
	}
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("sethostname %q: %w", s.Hostname, err)
		}
	}
	return nil
}

func setupMounts(s *Spec) error {
	// Nothing mounted from here on propagates back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	root := "/"
	if s.Chroot != "" {
		root = s.Chroot
		if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("chroot %s: bind onto itself: %w", root, err)
		}
	}
	// Targets are resolved inside root through this handle, never by
	// joining strings (see mountTarget).
	rootDir, err := openRoot(root)
	if err != nil {
		return err
	}
	defer rootDir.Close()
	mounts := plannedMounts(s)
	if s.ReadOnlyRoot {
		// Targets are made while the tree is still writable, then the
		// tree goes read-only, then the mounts go on top of it.
		for i := range mounts {
			if mounts[i].what == "file" {
				continue // over files that exist, and over the fresh /proc: resolved when mounted
			}
			if mounts[i].h, err = mountTarget(rootDir, mounts[i].dst, mounts[i].dir); err != nil {
				return fmt.Errorf("%s: target %s: %w", mounts[i].what, mounts[i].dst, err)
			}
			defer mounts[i].h.Close()
		}
		if err := readOnlyTree(fdPath(rootDir)); err != nil {
			return fmt.Errorf("read-only root: %w", err)
		}
	}
	for _, m := range mounts {
		if err := m.mount(rootDir); err != nil {
			return err
		}
	}
	if err := hideDirs(s); err != nil {
		return err
	}
	if s.Chroot != "" {
		if err := pivot(root); err != nil {
			return fmt.Errorf("chroot %s: %w", root, err)
		}
	}
	if s.ProtectSys {
		// In the final root, on the final /proc: what the command sees.
		if err := protectSys(); err != nil {
			return err
		}
	}
	return nil
}

// plannedMount is one mount SetupInside makes, in order: binds, read-only
// binds, tmpfs, /proc.
type plannedMount struct {
	what, src, dst string
	dir, ro        bool
	h              *os.File // the target, when resolved in advance
	do             func(target string) error
}

func plannedMounts(s *Spec) []plannedMount {
	var out []plannedMount
	for i, list := range [][]Bind{s.Bind, s.RoBind} {
		for _, b := range list {
			b := b
			what := "bind"
			if i == 1 {
				what = "ro-bind"
			}
			// A missing source is reported by mount; a file source
			// needs a file target.
			fi, err := os.Stat(b.Src)
			out = append(out, plannedMount{what: what, src: b.Src, dst: b.target(), dir: err != nil || fi.IsDir(), ro: i == 1,
				do: func(target string) error { return unix.Mount(b.Src, target, "", unix.MS_BIND|unix.MS_REC, "") }})
		}
	}
	for _, t := range s.Tmpfs {
		out = append(out, plannedMount{what: "tmpfs", dst: t, dir: true, do: func(target string) error {
			// Sticky and open to all, as /tmp is: the command may run as
			// another user than the root that mounts it.
			return unix.Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777")
		}})
	}
	if s.PID {
		out = append(out, plannedMount{what: "mount /proc", dst: "/proc", dir: true, do: func(target string) error {
			return unix.Mount("proc", target, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
		}})
	}
	for _, f := range s.Files {
		out = append(out, plannedMount{what: "file", dst: f.Dst, do: func(target string) error {
			if f.Src != "" {
				return unix.Mount(f.Src, target, "", unix.MS_BIND, "")
			}
			return bindContent(f.Data, target)
		}})
	}
	return out
}

// mount makes m on its target inside root, resolving (and creating) the
// target there unless that was done in advance; a read-only bind is then
// made read-only with every mount beneath it.
func (m plannedMount) mount(root *os.File) error {
	name := m.what + " " + m.dst
	if m.src != "" {
		name = m.what + " " + m.src + " on " + m.dst
		if _, err := os.Stat(m.src); err != nil {
			return fmt.Errorf("%s: %w", m.what, err)
		}
	}
	h := m.h
	if h == nil {
		var err error
		if h, err = mountTarget(root, m.dst, m.dir); err != nil {
			return fmt.Errorf("%s: target: %w", name, err)
		}
		defer h.Close()
	}
	if err := m.do(fdPath(h)); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if !m.ro {
		return nil
	}
	// Looked up again: a handle opened before the mount names the
	// directory underneath it, not the new bind.
	top, err := pathrs.OpenatInRoot(root, m.dst)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer top.Close()
	if err := readOnlyTree(fdPath(top)); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// pivot makes root (a mount point) the root of this mount namespace and
// detaches the old root.
func pivot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		if err != unix.EINVAL {
			return fmt.Errorf("pivot_root: %w", err)
		}
		// The current root is rootfs (an initramfs, as in the test VM),
		// which cannot be pivoted away. Do what runc's no_pivot_root and
		// switch_root do: move the new root over / and chroot into it.
		if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("pivot_root: EINVAL, and moving the root: %w", err)
		}
		if err := unix.Chroot("."); err != nil {
			return fmt.Errorf("chroot: %w", err)
		}
		return unix.Chdir("/")
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	return unix.Chdir("/")
}

// CheckMapUser fails with caps.ErrCgo, before anything is started, when s
// needs DropAmbient in the init (MapUser for a non-root caller) and this
// binary cannot do it. The probe is harmless (PR_CAP_AMBIENT_IS_SET on
// every thread) and runs only for such specs.
func CheckMapUser(s *Spec, uid int) error {
	if s == nil || !s.MapUser || uid == 0 {
		return nil
	}
	return caps.ProbeAllThreads()
}

// DropAmbient clears the ambient and inheritable capability sets of every
// thread of the process, so that a command started afterwards inherits
// none (the MapUser init gets CAP_SYS_ADMIN and CAP_NET_ADMIN as ambient
// capabilities, which needs them in the inheritable set too). Every
// thread, because the command may be forked from any of them; hence
// AllThreadsSyscall, which does not work in a cgo-linked binary (caps.ErrCgo;
// the launcher checks with CheckMapUser first).
func DropAmbient() error { return caps.DropAmbientAllThreads() }

// LoopbackUp sets IFF_UP on "lo" in the current network namespace.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback up: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: SIOCGIFFLAGS: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: SIOCSIFFLAGS: %w", err)
	}
	return nil
}

// HasSysAdmin reports whether this thread holds CAP_SYS_ADMIN in its
// effective set (true when capget fails: the kernel decides then).
func HasSysAdmin() bool { return caps.HasEffective(unix.CAP_SYS_ADMIN) }

// CheckPrivilege fails with a clear message when s asks for namespaces
// without a user namespace and the caller lacks CAP_SYS_ADMIN, which the
// kernel would refuse with a bare EPERM.
func CheckPrivilege(s *Spec) error {
	if s.Empty() || s.User || HasSysAdmin() {
		return nil
	}
	return fmt.Errorf("--unshare %s needs CAP_SYS_ADMIN (root); add user (--unshare user,%s) to use them unprivileged", s, s)
}
