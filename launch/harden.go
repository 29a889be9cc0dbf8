package launch

import (
	"errors"
	"os"
	"syscall"

	"rcon/caps"
	"rcon/nsjail"
	"rcon/sdscope"

	"golang.org/x/sys/unix"
)

// errProtectNeedsSysAdmin: a uid-0 command without CAP_SYS_ADMIN owns
// the cgroup files and sysctls, so its limits hold only with those
// read-only, which needs a mount namespace, which needs CAP_SYS_ADMIN.
var errProtectNeedsSysAdmin = errors.New("the command stays uid 0 without cap_sys_admin, and uid 0 owns the cgroup files: " +
	"making /sys and /proc/sys read-only for it needs a mount namespace, which needs CAP_SYS_ADMIN here; run it with --user, or keep sys_admin")

// protectSys reports whether the command needs /sys and /proc/sys
// read-only (nsjail.Spec.ProtectSys): it will run as uid 0 (on the host:
// a user namespace of root's maps 0 to 0) with capabilities pruned so
// that CAP_SYS_ADMIN is gone. Without pruning, or keeping CAP_SYS_ADMIN,
// the command is trusted root: it could remount anything, and the limits
// do not hold against it.
func (s *job) protectSys(cred *syscall.Credential) bool {
	uid := uint32(os.Geteuid())
	if cred != nil {
		uid = cred.Uid
	}
	if uid != 0 || s.Caps == nil || !s.Caps.ChangesSets() {
		return false
	}
	if s.jail.WantsUser() && os.Geteuid() != 0 {
		return false // uid 0 inside is the caller outside
	}
	if s.Caps.Keeping() {
		keep, err := caps.ParseSet(s.Caps.Keep)
		return err == nil && !keep.Has(unix.CAP_SYS_ADMIN)
	}
	drop, err := caps.ParseSet(s.Caps.Drop)
	return err == nil && drop.Has(unix.CAP_SYS_ADMIN)
}

// withProtectSys returns s's namespaces plus ProtectSys (and so a mount
// namespace), leaving the caller's Spec.NS untouched.
func withProtectSys(ns *nsjail.Spec) *nsjail.Spec {
	out := nsCopy(ns)
	out.ProtectSys = true
	return &out
}

// nsCopy is a copy of ns (the zero Spec for nil), for adding to what the
// caller asked without changing its Spec.
func nsCopy(ns *nsjail.Spec) nsjail.Spec {
	if ns == nil {
		return nsjail.Spec{}
	}
	return *ns
}

// hideManagers hides the systemd managers' sockets from a command whose
// limits rcon promises to hold against it (docs/SECURITY.md): uid 0
// without CAP_SYS_ADMIN (ProtectSys), or a sandbox that keeps it from
// cgroupfs. Through D-Bus, uid 0 needs no capability to have the system
// manager lift its scope's limits or start a unit with every capability,
// and any uid can have its user manager start units outside the group.
// Both drivers: the manager is there whichever made the group.
func (s *job) hideManagers(cred *syscall.Credential) {
	if s.jail == nil || !(s.jail.ProtectSys || s.jail.HidesCgroupfs()) {
		return
	}
	uid := os.Geteuid()
	if cred != nil {
		uid = int(cred.Uid)
	}
	if s.jail.WantsUser() && os.Geteuid() != 0 {
		uid = os.Geteuid() // its ids inside map to the caller's outside
	}
	ns := nsCopy(s.jail)
	ns.Hide = append(append([]string(nil), ns.Hide...), sdscope.Sockets(uid)...)
	s.jail = &ns
}
