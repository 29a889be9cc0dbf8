package profiles

import (
	"fmt"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"rcon/cgroupfs"
	"rcon/nsjail"
	"rcon/sdscope"
)

func parseSizeString(s string) (int64, error) { return cgroupfs.ParseSize(s) }

// Limits on values that the kernel would reject anyway; checking them here
// turns a failure at run time (after cron has fired) into one at load time.
// The numeric bounds are cgroupfs's (cgroupfs/bounds.go), the same the
// flags are held to.
const (
	maxCPUPeriodUS = cgroupfs.MaxCPUPeriodUS
	maxHostname    = 64
)

// minCPUPercent is the smallest cpu, rounded up to 4 decimals so that it
// really is enough, whose quota over periodUS reaches the kernel's minimum.
func minCPUPercent(periodUS uint64) float64 {
	return math.Ceil(100*float64(cgroupfs.MinCPUQuotaUS)/float64(periodUS)*1e4) / 1e4
}

// checkCPUQuota refuses a cpu whose quota, over the period the merged
// profile sets (or the default), is below the kernel's minimum. It runs on
// the merged profile, not per file, because cpu and cpu_period_us may come
// from different files: a base's period can make an including file's small
// cpu valid, or invalid. fileOf returns a merged file by name, to find the
// key's line.
func checkCPUQuota(p *Profile, fileOf func(name string) *file) error {
	l := &p.Limits
	if !l.CPU.Set {
		return nil
	}
	period, where := uint64(cgroupfs.DefaultCPUPeriodUS), "the default"
	if l.CPUPeriodUS.Set {
		period = uint64(l.CPUPeriodUS.V)
		where = "cpu_period_us"
		if l.CPUPeriodUS.From != l.CPU.From {
			pf := fileOf(l.CPUPeriodUS.From)
			where = fmt.Sprintf("cpu_period_us from %s:%d", pf.name, keyLine(pf.data, key("limits", "cpu_period_us")))
		}
	}
	q, err := cgroupfs.CheckCPUQuota(l.CPU.V, period)
	if err == nil {
		return nil
	}
	fix := fmt.Sprintf("raise cpu to at least %g", minCPUPercent(period))
	if need := math.Ceil(float64(cgroupfs.MinCPUQuotaUS) * 100 / l.CPU.V); need <= maxCPUPeriodUS {
		fix += fmt.Sprintf(", or cpu_period_us to at least %.0f", need)
	}
	return fileOf(l.CPU.From).errAt(key("limits", "cpu"),
		"%g%% of a %d µs period (%s) is a quota of %g µs, below the kernel's minimum of %d µs: %s",
		l.CPU.V, period, where, q, cgroupfs.MinCPUQuotaUS, fix)
}

// validate checks the values of one file's own settings. Types and key names
// were checked by decode; what remains needs the value's meaning.
func validate(f *file, p *Profile) error {
	l := &p.Limits
	for _, c := range []struct {
		name string
		set  bool
		err  func() error
	}{
		{"cpu", l.CPU.Set, func() error { return cgroupfs.CheckCPUPercent(l.CPU.V) }},
		{"cpu_period_us", l.CPUPeriodUS.Set, func() error { return cgroupfs.CheckCPUPeriod(l.CPUPeriodUS.V) }},
		{"cpu_weight", l.CPUWeight.Set, func() error { return cgroupfs.CheckCPUWeight(l.CPUWeight.V) }},
		{"pids", l.Pids.Set, func() error { return cgroupfs.CheckPids(l.Pids.V) }},
		{"mem", l.Mem.Set, func() error { return cgroupfs.CheckMemLimit(int64(l.Mem.V)) }},
		{"mem_high", l.MemHigh.Set, func() error { return cgroupfs.CheckMemLimit(int64(l.MemHigh.V)) }},
	} {
		if c.set {
			if err := c.err(); err != nil {
				return f.errAt(key("limits", c.name), "%v", err)
			}
		}
	}
	if l.Cpuset.Set {
		if err := checkCpuset(l.Cpuset.V); err != nil {
			return f.errAt(key("limits", "cpuset"), "%v", err)
		}
	}
	for _, t := range ioTables(l) {
		if !t.v.Set {
			continue
		}
		if len(t.v.V) == 0 {
			return f.errAt(key("limits", t.name), "empty table: name at least one device, or leave the key out")
		}
		for _, dev := range sortedKeys(t.v.V) {
			if _, err := cgroupfs.NewIOLimit(t.kind, dev, t.v.V[dev]); err != nil {
				return f.errAt(key("limits", t.name, dev), "%v", err)
			}
		}
	}

	r := &p.Run
	if r.Command.Set {
		if len(r.Command.V) == 0 || r.Command.V[0] == "" {
			return f.errAt(key("run", "command"), `must name a program, e.g. ["/usr/local/bin/backup.sh", "--full"]`)
		}
	}
	if r.Name.Set {
		// The run-time check itself: a name that loads is one rcon can
		// create, and the other way round.
		if err := cgroupfs.ValidName(r.Name.V); err != nil {
			return f.errAt(key("run", "name"), "%v", err)
		}
	}
	if r.Shared.Set {
		if err := cgroupfs.ValidName(r.Shared.V); err != nil {
			return f.errAt(key("run", "shared"), "%v", err)
		}
		if r.Name.Set {
			return f.errAt(key("run", "shared"), "name and shared are exclusive: a shared group is named by shared")
		}
	}
	if r.Parent.Set {
		if err := checkParent(r.Parent.V); err != nil {
			return f.errAt(key("run", "parent"), "%v", err)
		}
	}
	if r.Slice.Set {
		if err := sdscope.CheckSlice(r.Slice.V); err != nil {
			return f.errAt(key("run", "slice"), "%v", err)
		}
		if r.Parent.Set {
			return f.errAt(key("run", "slice"), "slice and parent are exclusive: a slice is the systemd driver's, a parent cgroupfs's")
		}
	}
	for _, s := range []struct {
		name string
		v    Value[string]
	}{{"user", r.User}, {"group", r.Group}} {
		if s.v.Set && !validIdentity(s.v.V) {
			return f.errAt(key("run", s.name), "invalid name %q: want a user/group name or a numeric id", s.v.V)
		}
	}
	for _, g := range r.Groups.V {
		if !validIdentity(g) {
			return f.errAt(key("run", "groups"), "invalid group %q: want a group name or a numeric id", g)
		}
	}
	if r.Unshare.Set {
		if err := checkNamespaces(r.Unshare.V); err != nil {
			return f.errAt(key("run", "unshare"), "%v", err)
		}
	}
	if r.Hostname.Set {
		if err := checkHostname(r.Hostname.V); err != nil {
			return f.errAt(key("run", "hostname"), "%v", err)
		}
	}
	if err := checkJail(f, r); err != nil {
		return err
	}
	if r.StatsJSON.Set && !path.IsAbs(r.StatsJSON.V) && r.StatsJSON.V != "-" {
		// Relative to what? cron, Apache and a shell all have different
		// working directories; a profile must not depend on the caller's.
		return f.errAt(key("run", "stats_json"), "must be an absolute path or \"-\", got %q", r.StatsJSON.V)
	}

	c := &p.Caps
	if c.Keep.Set && c.Drop.Set {
		return f.errAt(key("caps", "drop"), "conflicts with caps.keep on line %d: set one of keep (everything else is dropped) or drop (everything else is kept)",
			keyLine(f.data, key("caps", "keep")))
	}
	for _, s := range []struct {
		name string
		v    Value[[]string]
	}{{"keep", c.Keep}, {"drop", c.Drop}} {
		if s.v.Set {
			if err := checkCaps(s.v.V); err != nil {
				return f.errAt(key("caps", s.name), "%v", err)
			}
		}
	}

	if p.Include.Set {
		if len(p.Include.V) == 0 {
			return f.errAt(key("include"), "empty list: name at least one profile, or leave the key out")
		}
		for _, n := range p.Include.V {
			if n == "" {
				return f.errAt(key("include"), "empty profile name")
			}
		}
	}
	return nil
}

func key(k ...string) toml.Key { return toml.Key(k) }

type ioTable struct {
	name string
	kind cgroupfs.IOKind
	v    Value[IOTable]
}

// ioTables lists the four I/O keys with the throttle each one sets, in the
// order they are documented, applied and printed.
func ioTables(l *Limits) []ioTable {
	return []ioTable{
		{"io_read_bps", cgroupfs.ReadBPS, l.IOReadBPS},
		{"io_write_bps", cgroupfs.WriteBPS, l.IOWriteBPS},
		{"io_read_iops", cgroupfs.ReadIOPS, l.IOReadIOPS},
		{"io_write_iops", cgroupfs.WriteIOPS, l.IOWriteIOPS},
	}
}

func sortedKeys(m IOTable) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// checkCpuset accepts the kernel's list format: "0-1,3,5-7".
func checkCpuset(s string) error {
	if s == "" {
		return errorf("empty CPU list: want e.g. \"0-1,3\" (leave the key out for all CPUs)")
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.ParseUint(lo, 10, 16)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.ParseUint(hi, 10, 16)
		}
		if err1 != nil || err2 != nil || b < a {
			return errorf("invalid CPU list %q: want e.g. \"0-1,3\"", s)
		}
	}
	return nil
}

// checkParent allows nesting ("batch/nightly") but never climbing out of the
// cgroup tree.
func checkParent(s string) error {
	if s == "" || strings.ContainsAny(s, "\x00\n") {
		return errorf("invalid parent %q", s)
	}
	for _, c := range strings.Split(strings.Trim(s, "/"), "/") {
		if c == ".." {
			return errorf("invalid parent %q: must not contain \"..\"", s)
		}
	}
	return nil
}

// validIdentity accepts what useradd/groupadd accept plus numeric ids; the
// name is resolved at run time, not here, so `rcon profile check` works on a
// machine that lacks the user.
func validIdentity(s string) bool {
	if s == "" || len(s) > 256 || s[0] == '-' {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c == '-' || c == '.' || c == '$' || c == '@' ||
			'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func checkHostname(s string) error {
	if s == "" || len(s) > maxHostname {
		return errorf("invalid hostname %q: want 1 to %d characters", s, maxHostname)
	}
	for _, c := range s {
		if !(c == '-' || c == '.' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return errorf("invalid hostname %q: letters, digits, '-' and '.' only", s)
		}
	}
	return nil
}

// checkJail checks the filesystem-jail keys with nsjail's own rules, one key
// at a time so the error names the right one.
func checkJail(f *file, r *Run) error {
	for _, b := range []struct {
		name string
		v    Value[[]string]
	}{{"ro_bind", r.RoBind}, {"bind", r.Bind}} {
		for _, arg := range b.v.V {
			bd, err := nsjail.ParseBind(arg)
			if err != nil {
				return f.errAt(key("run", b.name), "%v", err)
			}
			s := nsjail.Spec{Bind: []nsjail.Bind{bd}}
			if err := s.Normalize(); err != nil {
				return f.errAt(key("run", b.name), "%v", err)
			}
		}
	}
	for _, t := range r.Tmpfs.V {
		if !path.IsAbs(t) {
			return f.errAt(key("run", "tmpfs"), "%q: not an absolute path", t)
		}
	}
	if r.Chroot.Set && !path.IsAbs(r.Chroot.V) {
		return f.errAt(key("run", "chroot"), "%q: not an absolute path", r.Chroot.V)
	}
	return nil
}
