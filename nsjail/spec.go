// Package nsjail sets up Linux namespaces for a command: which ones to
// unshare (Spec, Parse), the clone flags and id mappings for the process that
// enters them (SetSysProcAttr), and the set-up that must run inside them
// before the command starts (SetupInside): private mount propagation, a fresh
// /proc, binds, loopback up, hostname.
//
// The package is plain data plus syscalls; it never starts processes. The
// PID-1 init that runs the set-up and supervises the command lives in package
// launch (launch/ns.go), which owns starting commands.
package nsjail

import (
	"fmt"
	"sort"
	"strings"
)

// Spec says which namespaces a command gets and how its minimal filesystem
// jail looks. The zero value unshares nothing.
type Spec struct {
	PID    bool `json:"pid,omitempty"`
	Mount  bool `json:"mount,omitempty"`
	Net    bool `json:"net,omitempty"`
	UTS    bool `json:"uts,omitempty"`
	IPC    bool `json:"ipc,omitempty"`
	User   bool `json:"user,omitempty"`
	Cgroup bool `json:"cgroup,omitempty"`

	// Hostname is set inside a new UTS namespace (it implies UTS).
	Hostname string `json:"hostname,omitempty"`
	// MapUser maps the caller to its own uid/gid inside a user namespace
	// instead of to root (it implies User).
	MapUser bool `json:"map_user,omitempty"`

	// RoBind and Bind bind-mount host paths (read-only or read-write),
	// Tmpfs mounts empty tmpfs directories, Chroot makes a directory the
	// new root (pivot_root). Destinations are inside Chroot when it is
	// set. All of them imply Mount.
	RoBind []Bind   `json:"ro_bind,omitempty"`
	Bind   []Bind   `json:"bind,omitempty"`
	Tmpfs  []string `json:"tmpfs,omitempty"`
	Chroot string   `json:"chroot,omitempty"`

	// ProtectSys makes /sys (cgroupfs included, with every submount),
	// /proc/sys and the other root-owned /proc files docker protects
	// read-only for the command (it implies Mount). The launcher sets it
	// for a command that stays uid 0 without CAP_SYS_ADMIN, which owns
	// those files and could otherwise lift its own limits or leave its
	// group; with CAP_SYS_ADMIN it could remount them anyway.
	ProtectSys bool `json:"protect_sys,omitempty"`
	// ReadOnlyRoot makes the whole file tree read-only, every mount in
	// it (the new root with Chroot), before Tmpfs and Bind are mounted
	// on top, which stay writable: the command can write only where it
	// was given room (it implies Mount). World-writable host directories
	// such as /var/tmp and /dev/shm are otherwise writable by anyone.
	ReadOnlyRoot bool `json:"read_only_root,omitempty"`
	// Files are contents bound read-only over files inside (after /proc
	// is mounted, so over the fresh one too): what rcon --fit shows the
	// command in place of the host's CPU count and memory. They imply
	// Mount.
	Files []File `json:"files,omitempty"`
	// Hide are paths made unusable inside: directories empty and
	// read-only (rcon's state directory), other files /dev/null (a
	// systemd manager's sockets); only with Mount, and not in a Chroot.
	Hide []string `json:"hide,omitempty"`
}

// File is one content bound over the file Dst inside: Data, or the host
// file Src (LXCFS's live files).
type File struct {
	Dst  string `json:"dst"`
	Data []byte `json:"data,omitempty"`
	Src  string `json:"src,omitempty"`
}

// Bind is one bind mount: Src on the host, Dst inside (Dst empty: same as Src).
type Bind struct {
	Src string `json:"src"`
	Dst string `json:"dst,omitempty"`
}

// Names are the namespace names Parse accepts, besides "all".
var Names = []string{"cgroup", "ipc", "mount", "net", "pid", "user", "uts"}

// Parse turns a list of namespace names into a Spec. Every element may itself
// be a comma-separated list; "all" selects every namespace; empty elements are
// ignored; "mnt" and "ns" are accepted for "mount", "network" for "net".
// An unknown name is an error that names it.
func Parse(list []string) (Spec, error) {
	var s Spec
	return s, s.Add(list)
}

// Add sets the namespaces named in list (see Parse) on s.
func (s *Spec) Add(list []string) error {
	for _, item := range list {
		for _, name := range strings.Split(item, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			switch name {
			case "":
			case "all":
				s.PID, s.Mount, s.Net, s.UTS, s.IPC, s.User, s.Cgroup = true, true, true, true, true, true, true
			case "pid":
				s.PID = true
			case "mount", "mnt", "ns":
				s.Mount = true
			case "net", "network":
				s.Net = true
			case "uts":
				s.UTS = true
			case "ipc":
				s.IPC = true
			case "user":
				s.User = true
			case "cgroup":
				s.Cgroup = true
			default:
				return fmt.Errorf("unknown namespace %q (known: %s, all)", name, strings.Join(Names, ", "))
			}
		}
	}
	return nil
}

// ParseBind parses "SRC" or "SRC:DST".
func ParseBind(arg string) (Bind, error) {
	src, dst, _ := strings.Cut(arg, ":")
	if src == "" {
		return Bind{}, fmt.Errorf("bind %q: empty source", arg)
	}
	return Bind{Src: src, Dst: dst}, nil
}

// Normalize applies the implications: Hostname implies UTS, MapUser implies
// User, binds/tmpfs/chroot imply Mount. It also checks paths: bind and tmpfs
// destinations and Chroot must be absolute.
func (s *Spec) Normalize() error {
	if s.Hostname != "" {
		s.UTS = true
	}
	if s.MapUser {
		s.User = true
	}
	if len(s.RoBind) > 0 || len(s.Bind) > 0 || len(s.Tmpfs) > 0 || s.Chroot != "" || s.ProtectSys || s.ReadOnlyRoot || len(s.Files) > 0 {
		s.Mount = true
	}
	if len(s.Hostname) > 64 {
		return fmt.Errorf("hostname %q: longer than 64 bytes", s.Hostname)
	}
	if s.Chroot != "" && !strings.HasPrefix(s.Chroot, "/") {
		return fmt.Errorf("chroot %q: not an absolute path", s.Chroot)
	}
	for _, b := range append(append([]Bind(nil), s.RoBind...), s.Bind...) {
		if !strings.HasPrefix(b.target(), "/") {
			return fmt.Errorf("bind %s: destination %q is not absolute", b.Src, b.target())
		}
	}
	for _, t := range s.Tmpfs {
		if !strings.HasPrefix(t, "/") {
			return fmt.Errorf("tmpfs %q: not an absolute path", t)
		}
	}
	for _, f := range s.Files {
		if !strings.HasPrefix(f.Dst, "/") {
			return fmt.Errorf("file %q: not an absolute path", f.Dst)
		}
	}
	return nil
}

func (b Bind) target() string {
	if b.Dst != "" {
		return b.Dst
	}
	return b.Src
}

// WantsUser reports whether s asks for a new user namespace, directly or
// through MapUser (before or after Normalize). A nil Spec does not.
func (s *Spec) WantsUser() bool { return s != nil && (s.User || s.MapUser) }

// Empty reports whether s asks for no namespace at all.
func (s *Spec) Empty() bool {
	return s == nil || !(s.PID || s.Mount || s.Net || s.UTS || s.IPC || s.User || s.Cgroup ||
		s.Hostname != "" || s.MapUser || len(s.RoBind) > 0 || len(s.Bind) > 0 || len(s.Tmpfs) > 0 || s.Chroot != "" || s.ProtectSys || s.ReadOnlyRoot || len(s.Files) > 0)
}

// List returns the selected namespace names, sorted.
func (s *Spec) List() []string {
	var l []string
	for name, on := range map[string]bool{"pid": s.PID, "mount": s.Mount, "net": s.Net,
		"uts": s.UTS, "ipc": s.IPC, "user": s.User, "cgroup": s.Cgroup} {
		if on {
			l = append(l, name)
		}
	}
	sort.Strings(l)
	return l
}

// String is the comma list of selected namespaces.
func (s *Spec) String() string { return strings.Join(s.List(), ",") }
