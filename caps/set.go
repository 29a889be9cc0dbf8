package caps

import (
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Set is a bitmask of capabilities, bit N for capability number N, the way
// /proc/PID/status and `capsh --decode` show them.
type Set uint64

// names is the kernel's numbering (include/uapi/linux/capability.h). Kept
// here rather than taken from gocapability so that `capcon show` prints
// exactly what libcap prints, independent of that library's enum.
var names = [...]string{
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill",
	"setgid", "setuid", "setpcap", "linux_immutable", "net_bind_service",
	"net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
	"sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
	"sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time",
	"sys_tty_config", "mknod", "lease", "audit_write", "audit_control",
	"setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
	"block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
}

// Capability numbers the planner treats specially.
const (
	capSetgid  = 6
	capSetuid  = 7
	capSetpcap = 8
)

var (
	lastCapOnce sync.Once
	lastCap     int
)

// LastCap is the highest capability number the running kernel knows
// (/proc/sys/kernel/cap_last_cap); bits above it can never be held, so
// "all" stops there.
func LastCap() int {
	lastCapOnce.Do(func() {
		lastCap = len(names) - 1
		b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
		if err != nil {
			return
		}
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n >= 0 && n < 64 {
			lastCap = n
		}
	})
	return lastCap
}

// All is every capability the running kernel knows.
func All() Set {
	return Set(1)<<(LastCap()+1) - 1
}

// ParseName turns one capability name into its number. Accepted: any case,
// with or without the "cap_" prefix, '-' for '_' (so "net-raw" works as it
// did in the original capcon's --cap-net-raw flags).
func ParseName(name string) (int, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.ReplaceAll(n, "-", "_")
	n = strings.TrimPrefix(n, "cap_")
	for i, s := range names {
		if s == n {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown capability %q", name)
}

// ParseSet parses capability names. Each element may itself be a comma
// separated list (flags and config files give both shapes); "all" means
// every capability the kernel knows and "none" adds nothing, so
// ParseSet([]string{"none"}) is the empty set.
func ParseSet(list []string) (Set, error) {
	var s Set
	for _, elem := range list {
		for _, name := range strings.Split(elem, ",") {
			name = strings.TrimSpace(name)
			switch strings.ToLower(name) {
			case "":
				continue
			case "all":
				s |= All()
				continue
			case "none":
				continue
			}
			c, err := ParseName(name)
			if err != nil {
				return 0, err
			}
			s |= 1 << c
		}
	}
	return s, nil
}

// Has reports whether capability c is in s.
func (s Set) Has(c int) bool { return c >= 0 && c < 64 && s&(1<<c) != 0 }

// Len is the number of capabilities in s.
func (s Set) Len() int { return bits.OnesCount64(uint64(s)) }

// Caps lists the capability numbers in s, ascending.
func (s Set) Caps() []int {
	var out []int
	for c := 0; c < 64; c++ {
		if s.Has(c) {
			out = append(out, c)
		}
	}
	return out
}

// Name is the libcap name of capability c ("cap_net_raw"); numbers the
// table does not know print as the bare number, as libcap does.
func Name(c int) string {
	if c >= 0 && c < len(names) {
		return "cap_" + names[c]
	}
	return strconv.Itoa(c)
}

// Names lists s by libcap name, ascending by number.
func (s Set) Names() []string {
	var out []string
	for _, c := range s.Caps() {
		out = append(out, Name(c))
	}
	return out
}

// List is the part of `capsh --decode=HEX` after the '=': the names joined
// with commas, empty for the empty set.
func (s Set) List() string { return strings.Join(s.Names(), ",") }

// String is List, except that the empty set is "none" so messages never
// show an empty word; String's output parses back with ParseSet.
func (s Set) String() string {
	if s == 0 {
		return "none"
	}
	return s.List()
}

// Hex is the 16-digit form used by /proc/PID/status.
func (s Set) Hex() string { return fmt.Sprintf("%016x", uint64(s)) }
