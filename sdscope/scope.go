package sdscope

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"rcon/cgroupfs"
)

// quotaPerSec is systemd's CPUQuotaPerSecUSec for pct percent of a CPU.
func quotaPerSec(pct float64) uint64 { return uint64(math.Round(pct * 10000)) }

// ioProp is systemd's property for each kind of block-I/O limit.
var ioProp = map[cgroupfs.IOKind]string{cgroupfs.ReadBPS: "IOReadBandwidthMax", cgroupfs.WriteBPS: "IOWriteBandwidthMax",
	cgroupfs.ReadIOPS: "IOReadIOPSMax", cgroupfs.WriteIOPS: "IOWriteIOPSMax"}

// limitProps are the unit properties of r (limits only).
func limitProps(r *cgroupfs.Resources) []sd.Property {
	var p []sd.Property
	add := func(name string, v any) { p = append(p, sd.Property{Name: name, Value: dbus.MakeVariant(v)}) }
	if r.CPUPercent > 0 {
		add("CPUQuotaPerSecUSec", quotaPerSec(r.CPUPercent))
		if r.CPUPeriod > 0 {
			add("CPUQuotaPeriodUSec", r.CPUPeriod)
		}
	}
	if r.CPUWeight > 0 {
		add("CPUWeight", r.CPUWeight)
	}
	if r.Cpuset != "" {
		if mask, err := cpuMask(r.Cpuset); err == nil {
			add("AllowedCPUs", mask)
		}
	}
	if r.Mem > 0 {
		add("MemoryMax", uint64(r.Mem))
	}
	if r.MemHigh > 0 {
		add("MemoryHigh", uint64(r.MemHigh))
	}
	if r.SwapSet {
		add("MemorySwapMax", uint64(r.Swap))
	}
	if r.Pids > 0 {
		add("TasksMax", uint64(r.Pids))
	}
	return append(p, ioProps(r.IO)...)
}

// restoreProps are the unit properties that put back old's value of
// every limit changed sets (the delta of a change that did not hold), and
// lift a limit old did not have: systemd's "infinity" (the maximum
// uint64) for a limit, its default for CPUWeight and CPUQuotaPeriodUSec,
// no mask for AllowedCPUs.
func restoreProps(old, changed *cgroupfs.Resources) []sd.Property {
	var p []sd.Property
	add := func(name string, v any) { p = append(p, sd.Property{Name: name, Value: dbus.MakeVariant(v)}) }
	unset := uint64(math.MaxUint64)
	or := func(v int64) uint64 {
		if v > 0 {
			return uint64(v)
		}
		return unset
	}
	if changed.CPUPercent > 0 || changed.CPUPeriod > 0 {
		q, per := unset, unset
		if old.CPUPercent > 0 {
			q = quotaPerSec(old.CPUPercent)
			if old.CPUPeriod > 0 {
				per = old.CPUPeriod
			}
		}
		add("CPUQuotaPerSecUSec", q)
		add("CPUQuotaPeriodUSec", per)
	}
	if changed.CPUWeight > 0 {
		add("CPUWeight", or(int64(old.CPUWeight)))
	}
	if changed.Cpuset != "" {
		mask := []byte{}
		if m, err := cpuMask(old.Cpuset); err == nil && old.Cpuset != "" {
			mask = m
		}
		add("AllowedCPUs", mask)
	}
	if changed.Mem > 0 {
		add("MemoryMax", or(old.Mem))
	}
	if changed.MemHigh > 0 {
		add("MemoryHigh", or(old.MemHigh))
	}
	if changed.SwapSet {
		v := unset
		if old.SwapSet {
			v = uint64(old.Swap)
		}
		add("MemorySwapMax", v)
	}
	if changed.Pids > 0 {
		add("TasksMax", or(old.Pids))
	}
	var io []cgroupfs.IOLimit
	for _, l := range changed.IO {
		back := l
		back.Rate = unset
		for _, o := range old.IO {
			if o.Kind == l.Kind && o.Major == l.Major && o.Minor == l.Minor {
				back.Rate = o.Rate
			}
		}
		io = append(io, back)
	}
	return append(p, ioProps(io)...)
}

// ioProps are the block-I/O properties of io, one per kind, each listing
// its devices.
func ioProps(io []cgroupfs.IOLimit) []sd.Property {
	type devRate struct {
		Path string
		Rate uint64
	}
	var p []sd.Property
	for _, kind := range []cgroupfs.IOKind{cgroupfs.ReadBPS, cgroupfs.WriteBPS, cgroupfs.ReadIOPS, cgroupfs.WriteIOPS} {
		var v []devRate
		for _, l := range io {
			if l.Kind == kind {
				v = append(v, devRate{fmt.Sprintf("/dev/block/%d:%d", l.Major, l.Minor), l.Rate})
			}
		}
		if len(v) > 0 {
			p = append(p, sd.Property{Name: ioProp[kind], Value: dbus.MakeVariant(v)})
		}
	}
	return p
}

// cpuMask turns a cpuset list ("0-1,3") into systemd's AllowedCPUs
// bitmask (byte i bit j is CPU 8i+j).
func cpuMask(list string) ([]byte, error) {
	cpus, err := parseCPUList(list)
	if err != nil {
		return nil, err
	}
	var mask []byte
	for _, c := range cpus {
		for len(mask) <= c/8 {
			mask = append(mask, 0)
		}
		mask[c/8] |= 1 << (c % 8)
	}
	return mask, nil
}

func parseCPUList(list string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(strings.TrimSpace(list), ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || b > 8191 {
			return nil, fmt.Errorf("bad cpu list %q", list)
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}

// Start makes unit, a transient scope in slice holding pid, with the
// limits r, waits for its job, and returns its cgroup directory. On error
// the scope is stopped again (if it was made). A shared scope (rcon
// --shared, rcon attach) is Delegate=yes: systemd moves processes into a
// live unit (Attach) only when it is delegated.
//
// The directory is computed (the manager's cgroup, the slice's path, the
// unit) rather than read back as ControlGroup, one round trip less; the
// caller checks that pid is in it, and ScopeCgroup asks systemd when not
// (an escaped cgroup name, a manager elsewhere).
func (c *Conn) Start(unit, slice, desc string, pid int, r *cgroupfs.Resources, shared bool) (string, error) {
	props := []sd.Property{
		sd.PropDescription(desc),
		sd.PropSlice(slice),
		sd.PropPids(uint32(pid)),
		{Name: "CollectMode", Value: dbus.MakeVariant("inactive-or-failed")},
		// Accounting for --stats and the OOM report even without a
		// limit of that controller (memory.events needs memory).
		{Name: "MemoryAccounting", Value: dbus.MakeVariant(true)},
		{Name: "TasksAccounting", Value: dbus.MakeVariant(true)},
		{Name: "CPUAccounting", Value: dbus.MakeVariant(true)},
		// An OOM kill inside the scope is the kernel's business and
		// rcon's to report, as with cgroupfs; systemd's default
		// (DefaultOOMPolicy=stop) would SIGTERM what survived it,
		// turning a command that handled its child's death into 143.
		{Name: "OOMPolicy", Value: dbus.MakeVariant("continue")},
	}
	if shared {
		props = append(props, sd.Property{Name: "Delegate", Value: dbus.MakeVariant(true)})
	}
	props = append(props, limitProps(r)...)
	ch := make(chan string, 1)
	// A run's end does not wait for its stop job (StopAsync), so a
	// rerun of the same --name may meet the old scope or slice still
	// going away: the record's claim has already proved it is no live
	// run's, so wait for systemd to finish it (bounded) and retry.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.c.StartTransientUnitContext(context.Background(), unit, "fail", props, ch)
		if err == nil {
			break
		}
		if !isGoingAway(err) || time.Now().After(deadline) {
			return "", fmt.Errorf("systemd (%s manager): start %s: %w", c.Manager, unit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := wait(ch, "start "+unit); err != nil {
		_ = c.Stop(unit)
		return "", fmt.Errorf("systemd (%s manager): %w", c.Manager, err)
	}
	mgr, err := c.ManagerCgroup()
	if err != nil {
		_ = c.Stop(unit)
		return "", err
	}
	return mgr + slicePath(slice) + "/" + unit, nil
}

// Description is a scope's Description: who made it (what) and the
// command line, bounded, as valid UTF-8 (D-Bus strings must be).
func Description(what string, argv []string) string {
	d := what + ": " + strings.Join(argv, " ")
	if len(d) > 200 {
		d = d[:197] + "..."
	}
	return strings.ToValidUTF8(d, "?")
}

// ErrGone is Attach's error when the unit is not there to join (never
// made, stopped, or collected by systemd once it emptied).
var ErrGone = errors.New("the scope is gone")

// Attach moves pid (all its threads) into unit, a live shared scope,
// through systemd (AttachProcessesToUnit; a user manager that may not
// move it itself asks the system manager, as for a scope's start), so
// that systemd's view of the unit stays true. The move is done when the
// call returns.
func (c *Conn) Attach(unit string, pid int) error {
	err := c.c.AttachProcessesToUnit(context.Background(), unit, "", []uint32{uint32(pid)})
	if err == nil {
		return nil
	}
	var e dbus.Error
	if isNoSuchUnit(err) || (errors.As(err, &e) && e.Name == "org.freedesktop.DBus.Error.InvalidArgs" && strings.Contains(err.Error(), "not active")) {
		return fmt.Errorf("%s: %w", unit, ErrGone)
	}
	return fmt.Errorf("systemd (%s manager): move pid %d into %s: %w", c.Manager, pid, unit, err)
}

// ScopeCgroup asks systemd for unit's cgroup directory: what Start's
// computed path falls back to.
func (c *Conn) ScopeCgroup(unit string) (string, error) {
	cg, err := c.controlGroup(unit)
	if err != nil {
		return "", err
	}
	return cgroupfs.Mountpoint + cg, nil
}

// slicePath is the cgroup path of a slice below its manager's cgroup, as
// systemd builds it: each dash is a level (rcon-a.slice is
// /rcon.slice/rcon-a.slice), the root slice is the manager's own cgroup.
func slicePath(slice string) string {
	if slice == "-.slice" {
		return ""
	}
	base := strings.TrimSuffix(slice, ".slice")
	var b strings.Builder
	for i := 0; i < len(base); i++ {
		if base[i] == '-' {
			b.WriteString("/" + base[:i] + ".slice")
		}
	}
	b.WriteString("/" + slice)
	return b.String()
}

// isGoingAway tells a start refused because an old unit of that name, or
// a stop job of its slice, is still there.
func isGoingAway(err error) bool {
	var e dbus.Error
	if errors.As(err, &e) {
		switch e.Name {
		case "org.freedesktop.systemd1.UnitExists", "org.freedesktop.systemd1.TransactionIsDestructive":
			return true
		}
	}
	return false
}

// StopAsync asks systemd to stop unit and does not wait for the job:
// systemd finishes it on its own, also if rcon exits at once. A unit
// that is not there is no error. For a run's end, where waiting for the
// stop (a job, a signal, the unit's collection) is time the command's
// caller waits for nothing.
func (c *Conn) StopAsync(unit string) error {
	_, err := c.c.StopUnitContext(context.Background(), unit, "replace", nil)
	if err != nil && !isNoSuchUnit(err) {
		return fmt.Errorf("systemd (%s manager): stop %s: %w", c.Manager, unit, err)
	}
	return nil
}

// Stop stops unit and waits until systemd has let it go; a unit that is
// not there (already collected) is no error.
func (c *Conn) Stop(unit string) error {
	ch := make(chan string, 1)
	_, err := c.c.StopUnitContext(context.Background(), unit, "replace", ch)
	if err != nil {
		if isNoSuchUnit(err) {
			return nil
		}
		return fmt.Errorf("systemd (%s manager): stop %s: %w", c.Manager, unit, err)
	}
	if err := wait(ch, "stop "+unit); err != nil {
		return fmt.Errorf("systemd (%s manager): %w", c.Manager, err)
	}
	if strings.HasSuffix(unit, ".slice") {
		return nil // stopped is gone enough: it has no processes and no cgroup
	}
	// CollectMode=inactive-or-failed: once stopped it is unloaded; wait
	// (bounded) so that "released" means gone.
	for i := 0; i < 1000 && c.Exists(unit); i++ {
		time.Sleep(time.Millisecond)
	}
	if c.Exists(unit) {
		return fmt.Errorf("systemd (%s manager): %s still loaded after stop", c.Manager, unit)
	}
	return nil
}

// StopRunSlice is how a run slice (see RunSlice) is stopped with unit,
// its scope: the slice, which stops the scope in it too, unless the slice
// holds a cgroup other than unit's. A slice of that name is then not
// rcon's alone (`--slice system.slice --name getty` names
// system-getty.slice, the getty units' own; a rewritten record may name
// one too), and only unit is stopped. wait: as Stop, else as StopAsync.
// A unit started into the slice between the look and the stop is not
// seen: the look is for a slice that was someone else's before the run.
func (c *Conn) StopRunSlice(slice, unit string, wait bool) error {
	stop := c.StopAsync
	if wait {
		stop = c.Stop
	}
	if c.sliceHoldsOthers(slice, unit) {
		return stop(unit)
	}
	return stop(slice)
}

// sliceHoldsOthers tells whether slice's cgroup has a child other than
// unit's (or cannot be read: then the slice is kept, to be safe).
func (c *Conn) sliceHoldsOthers(slice, unit string) bool {
	mgr, err := c.ManagerCgroup()
	if err != nil || slicePath(slice) == "" {
		return true
	}
	ents, err := os.ReadDir(mgr + slicePath(slice))
	if errors.Is(err, fs.ErrNotExist) {
		return false // no cgroup: nothing runs in it
	}
	if err != nil {
		return true
	}
	for _, e := range ents {
		if e.IsDir() && e.Name() != unit {
			return true
		}
	}
	return false
}

// Exists reports whether unit is loaded (active, or anything but
// collected).
func (c *Conn) Exists(unit string) bool {
	st, err := c.c.ListUnitsByNamesContext(context.Background(), []string{unit})
	if err != nil {
		return true // cannot tell: say yes, so nothing is released early
	}
	for _, u := range st {
		if u.Name == unit {
			return u.LoadState != "not-found"
		}
	}
	return false
}

func isNoSuchUnit(err error) bool {
	var e dbus.Error
	if errors.As(err, &e) {
		return e.Name == "org.freedesktop.systemd1.NoSuchUnit"
	}
	return strings.Contains(err.Error(), "not loaded")
}

// SetLimits changes a live scope's limits through systemd (runtime only:
// the scope is transient), so that systemctl's view stays true.
func (c *Conn) SetLimits(unit string, r *cgroupfs.Resources) error {
	props := limitProps(r)
	if len(props) == 0 {
		return nil
	}
	if err := c.c.SetUnitPropertiesContext(context.Background(), unit, true, props...); err != nil {
		return fmt.Errorf("systemd (%s manager): set properties of %s: %w", c.Manager, unit, err)
	}
	return nil
}

// RestoreLimits undoes a SetLimits of changed whose read-back failed:
// old's values go back (runtime, as SetLimits), so that the scope, the
// record and systemd's view agree again.
func (c *Conn) RestoreLimits(unit string, old, changed *cgroupfs.Resources) error {
	props := restoreProps(old, changed)
	if len(props) == 0 {
		return nil
	}
	if err := c.c.SetUnitPropertiesContext(context.Background(), unit, true, props...); err != nil {
		return fmt.Errorf("systemd (%s manager): put back the properties of %s: %w", c.Manager, unit, err)
	}
	return nil
}

// Controllers lists what r needs, by controller, for messages and the
// delegation check.
func Controllers(r *cgroupfs.Resources) []string {
	var out []string
	if r.CPUPercent > 0 || r.CPUWeight > 0 {
		out = append(out, "cpu")
	}
	if r.Cpuset != "" {
		out = append(out, "cpuset")
	}
	if r.Mem > 0 || r.MemHigh > 0 || r.SwapSet {
		out = append(out, "memory")
	}
	if r.Pids > 0 {
		out = append(out, "pids")
	}
	if len(r.IO) > 0 {
		out = append(out, "io")
	}
	return out
}

// DelegateFix is the one-line fix for a user manager without a controller.
const DelegateFix = `as root: printf '[Service]\nDelegate=cpu cpuset io memory pids\n' > /etc/systemd/system/user@.service.d/delegate.conf (mkdir -p the directory first), then systemctl daemon-reload and restart user@UID.service (or log in again)`

// CheckDelegated refuses, before anything is made, limits whose
// controller the manager does not have: a user manager gets only what
// user@UID.service is delegated (cpu memory pids by default; io and
// cpuset not), and systemd would drop those properties silently.
func (c *Conn) CheckDelegated(r *cgroupfs.Resources) error {
	need := Controllers(r)
	if len(need) == 0 {
		return nil
	}
	dir, err := c.ManagerCgroup()
	if err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("systemd driver: read the controllers of the %s manager: %w", c.Manager, err)
	}
	have := strings.Fields(string(data))
	for _, n := range need {
		if !slices.Contains(have, n) {
			if c.Manager == User {
				return fmt.Errorf("systemd driver: the %s controller is not delegated to your user manager (it has: %s), so that limit cannot hold; fix %s", n, strings.Join(have, " "), DelegateFix)
			}
			return fmt.Errorf("systemd driver: the %s controller is not available to the system manager (it has: %s)", n, strings.Join(have, " "))
		}
	}
	return nil
}

// Verify reads the scope's cgroup files back and refuses any asked limit
// that is not in force, naming the controller: systemd drops properties
// it cannot apply without failing the job (systemd#9641).
func Verify(dir string, r *cgroupfs.Resources) error {
	read := func(file string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	bad := func(ctrl, file, got, want string) error {
		return fmt.Errorf("systemd driver: the %s limit is not in force in %s: %s is %q, asked %s", ctrl, dir, file, got, want)
	}
	page := uint64(os.Getpagesize())
	checkBytes := func(ctrl, file string, want int64) error {
		got, err := read(file)
		if err != nil {
			return bad(ctrl, file, err.Error(), strconv.FormatInt(want, 10))
		}
		n, perr := strconv.ParseUint(got, 10, 64)
		if perr != nil || n != uint64(want)/page*page {
			return bad(ctrl, file, got, strconv.FormatInt(want, 10))
		}
		return nil
	}
	if r.CPUPercent > 0 {
		period := r.CPUPeriod
		if period == 0 {
			period = cgroupfs.DefaultCPUPeriodUS
		}
		// systemd writes max(quota/s × period / 1 s, 1 ms).
		want := fmt.Sprintf("%d %d", max(quotaPerSec(r.CPUPercent)*period/1000000, 1000), period)
		if got, err := read("cpu.max"); err != nil || got != want {
			return bad("cpu", "cpu.max", got+errText(err), want)
		}
	}
	if r.CPUWeight > 0 {
		want := strconv.FormatUint(r.CPUWeight, 10)
		if got, err := read("cpu.weight"); err != nil || got != want {
			return bad("cpu", "cpu.weight", got+errText(err), want)
		}
	}
	if r.Cpuset != "" {
		got, err := read("cpuset.cpus")
		a, _ := parseCPUList(got)
		b, _ := parseCPUList(r.Cpuset)
		if err != nil || !slices.Equal(a, b) || len(a) == 0 {
			return bad("cpuset", "cpuset.cpus", got+errText(err), r.Cpuset)
		}
	}
	if r.Mem > 0 {
		if err := checkBytes("memory", "memory.max", r.Mem); err != nil {
			return err
		}
	}
	if r.MemHigh > 0 {
		if err := checkBytes("memory", "memory.high", r.MemHigh); err != nil {
			return err
		}
	}
	if r.SwapSet {
		if r.Swap == 0 {
			if got, err := read("memory.swap.max"); err != nil || got != "0" {
				return bad("memory", "memory.swap.max", got+errText(err), "0")
			}
		} else if err := checkBytes("memory", "memory.swap.max", r.Swap); err != nil {
			return err
		}
	}
	if r.Pids > 0 {
		want := strconv.FormatInt(r.Pids, 10)
		if got, err := read("pids.max"); err != nil || got != want {
			return bad("pids", "pids.max", got+errText(err), want)
		}
	}
	if len(r.IO) > 0 {
		got, err := read("io.max")
		if err != nil {
			return bad("io", "io.max", err.Error(), "throttles")
		}
		for _, l := range r.IO {
			dev := fmt.Sprintf("%d:%d", l.Major, l.Minor)
			want := fmt.Sprintf("%s=%d", l.Kind, l.Rate)
			found := false
			for _, line := range strings.Split(got, "\n") {
				f := strings.Fields(line)
				if len(f) > 0 && f[0] == dev && slices.Contains(f[1:], want) {
					found = true
				}
			}
			if !found {
				return bad("io", "io.max", got, dev+" "+want)
			}
		}
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}
