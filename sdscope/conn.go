// Package sdscope is rcon's systemd driver: each run is a transient scope
// (rcon-NAME.scope) of the system manager (root) or of the caller's user
// manager, made through systemd's D-Bus API (go-systemd and godbus; no
// wire protocol of our own), with the limits as unit properties, so that
// systemctl, systemd-cgls and set-property see and agree with what rcon
// set. rcon never writes a cgroup file of the scope's limits itself; it
// reads them back (Verify) because systemd silently drops properties it
// cannot apply (systemd#9641).
//
// Nothing here runs for the cgroupfs driver: a plain run never connects.
package sdscope

import (
	"context"
	"errors"
	"fmt"
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

// Manager names which systemd instance a scope belongs to.
type Manager string

const (
	System Manager = "system"
	User   Manager = "user"
)

// DefaultSlice is where scopes go unless --slice or [run] slice say.
const DefaultSlice = "rcon.slice"

// jobTimeout bounds each wait for a systemd job (start, stop): a manager
// that does not answer must not hang the run forever.
const jobTimeout = 30 * time.Second

// Conn is a connection to one manager.
type Conn struct {
	c       *sd.Conn
	Manager Manager
	// Via says how it was reached, for messages.
	Via string
	// mgrCgroup caches ManagerCgroup: the delegation check and the
	// scope's computed path both need it, one round trip is enough.
	mgrCgroup string
}

// once makes go-systemd use one connection: its NewConnection dials
// twice (calls, and signals for the job results), which costs a second
// connect, authentication, Hello and AddMatch on every run. One godbus
// connection carries both: replies and JobRemoved arrive in order on it
// (systemd replies to StartTransientUnit before the job can finish), and
// go-systemd's Close closing it twice is harmless (godbus closes once).
func once(dial func() (*dbus.Conn, error)) func() (*dbus.Conn, error) {
	var c *dbus.Conn
	return func() (*dbus.Conn, error) {
		if c != nil {
			return c, nil
		}
		var err error
		c, err = dial()
		return c, err
	}
}

// Pending is a connection being made (ConnectAsync).
type Pending struct {
	done chan struct{}
	c    *Conn
	err  error
}

// ConnectAsync connects and runs check on the connection in the
// background, so that the held start's Go start-up and the D-Bus round
// trips overlap; Wait has the result.
func ConnectAsync(check func(*Conn) error) *Pending {
	p := &Pending{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.c, p.err = Connect()
		if p.err == nil && check != nil {
			if p.err = check(p.c); p.err != nil {
				p.c.Close()
				p.c = nil
			}
		}
	}()
	return p
}

// Wait is the connection, or why there is none.
func (p *Pending) Wait() (*Conn, error) {
	<-p.done
	return p.c, p.err
}

// ManagerFor is the manager a process of euid uid talks to: root the
// system manager, anyone else their own user manager.
func ManagerFor(uid int) Manager {
	if uid == 0 {
		return System
	}
	return User
}

// Connect reaches the manager of the caller: root the system bus, else
// systemd's private socket; a normal user $DBUS_SESSION_BUS_ADDRESS, else
// $XDG_RUNTIME_DIR/bus, else $XDG_RUNTIME_DIR/systemd/private (straight
// to the user manager: a lingering user's cron job has no session bus).
// The error says, in one line, what was tried.
func Connect() (*Conn, error) {
	// Not a context with a deadline: godbus closes a connection when its
	// dial context is done, and this one lives for the whole run.
	ctx := context.Background()
	if os.Geteuid() == 0 {
		c, err := sd.NewConnection(once(func() (*dbus.Conn, error) { return dialSystem(ctx, dbus.SystemBusPrivate, true) }))
		if err == nil {
			return &Conn{c: c, Manager: System, Via: "the system bus"}, nil
		}
		c, err2 := sd.NewConnection(once(func() (*dbus.Conn, error) {
			return dialSystem(ctx, func(opts ...dbus.ConnOption) (*dbus.Conn, error) {
				return dbus.Dial("unix:path=/run/systemd/private", opts...)
			}, false)
		}))
		if err2 == nil {
			return &Conn{c: c, Manager: System, Via: "/run/systemd/private"}, nil
		}
		return nil, fmt.Errorf("systemd driver: cannot reach the system manager: system bus (%v), /run/systemd/private (%v)", err, err2)
	}
	var tried []string
	rt := os.Getenv("XDG_RUNTIME_DIR")
	type way struct {
		addr  string
		hello bool // a bus daemon wants Hello; systemd's private socket does not
		what  string
	}
	var ways []way
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" {
		ways = append(ways, way{a, true, "$DBUS_SESSION_BUS_ADDRESS"})
	} else {
		tried = append(tried, "$DBUS_SESSION_BUS_ADDRESS unset")
	}
	if rt != "" {
		ways = append(ways, way{"unix:path=" + rt + "/bus", true, rt + "/bus"},
			way{"unix:path=" + rt + "/systemd/private", false, rt + "/systemd/private"})
	} else {
		tried = append(tried, "$XDG_RUNTIME_DIR unset (so no $XDG_RUNTIME_DIR/bus or $XDG_RUNTIME_DIR/systemd/private)")
	}
	for _, w := range ways {
		if strings.HasPrefix(w.addr, "unix:path=") {
			if _, err := os.Stat(strings.TrimPrefix(w.addr, "unix:path=")); err != nil {
				tried = append(tried, w.what+": "+errors.Unwrap(err).Error())
				continue
			}
		}
		c, err := sd.NewConnection(once(func() (*dbus.Conn, error) { return dialUser(ctx, w.addr, w.hello) }))
		if err == nil {
			return &Conn{c: c, Manager: User, Via: w.what}, nil
		}
		tried = append(tried, fmt.Sprintf("%s: %v", w.what, err))
	}
	return nil, fmt.Errorf("systemd driver: cannot reach your user manager: %s (a lingering user or a login session has one; or use --driver cgroupfs)", strings.Join(tried, "; "))
}

func dialUser(ctx context.Context, addr string, hello bool) (*dbus.Conn, error) {
	return dialSystem(ctx, func(opts ...dbus.ConnOption) (*dbus.Conn, error) { return dbus.Dial(addr, opts...) }, hello)
}

// dialSystem is go-systemd's own dial (EXTERNAL with our uid, as sd-bus
// does; Hello to a bus daemon), for one connection of our own.
func dialSystem(ctx context.Context, open func(...dbus.ConnOption) (*dbus.Conn, error), hello bool) (*dbus.Conn, error) {
	conn, err := open(dbus.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
		conn.Close()
		return nil, err
	}
	if hello {
		if err := conn.Hello(); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

// Close ends the connection.
func (c *Conn) Close() {
	if c != nil && c.c != nil {
		c.c.Close()
	}
}

// UnitFor is the scope of the group name: names begin with "rcon-"
// (default names do), else that is put in front. The registry checks a
// record's unit against it, so a rewritten record can only name the
// scope of its own name.
func UnitFor(name string) string {
	if strings.HasPrefix(name, "rcon-") {
		return name + ".scope"
	}
	return "rcon-" + name + ".scope"
}

// RunSlice is the slice of one run's scope: a child of parent (the
// --slice, default rcon.slice) of the run's own name, with '-' escaped as
// systemd-escape does (a dash is a level of the slice tree).
//
// Why a slice per run: systemd stops a scope, and removes its cgroup, as
// soon as its last process exits, which races rcon's reading of the
// scope's memory.events (the OOM report) and --stats after the command
// exits. The run slice outlives the scope until rcon stops it, and its
// figures are hierarchical: memory.events (oom_kill), cpu.stat,
// memory.peak and io.stat count the scope, its only child, also once it
// is gone.
func RunSlice(parent, name string) string {
	esc := strings.ReplaceAll(name, "-", `\x2d`)
	if parent == "-.slice" {
		return esc + ".slice"
	}
	return strings.TrimSuffix(parent, ".slice") + "-" + esc + ".slice"
}

// IsRunSlice tells whether slice is a run slice of name (RunSlice of some
// parent): what the registry requires of a record before it stops one.
func IsRunSlice(slice, name string) bool {
	esc := strings.ReplaceAll(name, "-", `\x2d`)
	return slice == esc+".slice" || (strings.HasSuffix(slice, "-"+esc+".slice") && CheckSlice(strings.TrimSuffix(slice, "-"+esc+".slice")+".slice") == nil)
}

// CheckSlice checks a --slice / [run] slice value: a slice unit name.
func CheckSlice(s string) error {
	ok := strings.HasSuffix(s, ".slice") && len(s) > len(".slice") && len(s) <= 255 && s[0] != '.'
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == ':'
	}
	if s == "-.slice" {
		return nil // the root slice
	}
	if !ok || strings.Contains(s, "--") || strings.HasPrefix(s, "-") || strings.HasSuffix(strings.TrimSuffix(s, ".slice"), "-") {
		return fmt.Errorf("invalid slice %q: a systemd slice name such as rcon.slice or rcon-batch.slice (letters, digits, ':', '_', '.', '-'; ends in .slice)", s)
	}
	return nil
}

// Auto is the default driver's choice (also --driver auto): a scope when
// the unified hierarchy is mounted, systemd is PID 1 (/run/systemd/system
// exists, as sd_booted(3) checks) and the caller is in its tree, no
// --parent was given (a parent is a cgroupfs path) and the caller's
// manager has a socket to reach it by.
// Without one (a cron job of a user without linger, a minimal container
// with systemd's directory but no bus) it is cgroupfs, and why says what
// was missing, for the cgroupfs driver's own refusal to name.
func Auto(parent string) (scope bool, why string) {
	if parent != "" || cgroupfs.Detect() != cgroupfs.V2 {
		return false, ""
	}
	if st, err := os.Stat("/run/systemd/system"); err != nil || !st.IsDir() {
		return false, ""
	}
	// Under systemd every process is in a unit, never in the root; a
	// caller in the root is in a cgroup namespace of its own (a
	// container, whose /run may still show the host's systemd), where
	// the manager's scopes would be out of sight.
	if own, err := cgroupfs.OwnV2Cgroup(); err != nil || own == "/" {
		return false, ""
	}
	if why := PidNSProblem(); why != "" {
		return false, why
	}
	if missing := missingSocket(); missing != "" {
		return false, missing
	}
	return true, ""
}

// CheckPidNS is PidNSProblem as the error of a run or an attach that
// asked for the systemd driver.
func CheckPidNS() error {
	if why := PidNSProblem(); why != "" {
		return fmt.Errorf("the systemd driver cannot be used here: %s (use --driver cgroupfs)", why)
	}
	return nil
}

// PidNSProblem is "" when the pids rcon knows are the manager's, else
// why not. systemd takes the pids of a scope (and of a move) in its own
// pid namespace: from a pid namespace below it (a container, unshare
// --pid) the held start's pid names another process, or none.
func PidNSProblem() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "cannot tell rcon's pid namespace: " + err.Error()
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f, ok := strings.CutPrefix(l, "NSpid:"); ok && len(strings.Fields(f)) > 1 {
			return "rcon runs in a pid namespace below its /proc's, where systemd would take its pids for others"
		}
	}
	if comm, err := os.ReadFile("/proc/1/comm"); err != nil || strings.TrimSpace(string(comm)) != "systemd" {
		return "PID 1 of rcon's pid namespace is not systemd (a pid namespace of its own), where systemd would take rcon's pids for others"
	}
	return ""
}

// missingSocket is "" when one of the ways Connect tries exists, else
// what is missing. Only existence is checked (a stat each): a socket
// that exists but does not answer is Connect's error, not a reason to
// fall back silently.
func missingSocket() string {
	if os.Geteuid() == 0 {
		if a := os.Getenv("DBUS_SYSTEM_BUS_ADDRESS"); a != "" && !strings.HasPrefix(a, "unix:path=") {
			return ""
		}
		for _, p := range []string{systemBusPath(), "/run/systemd/private"} {
			if _, err := os.Stat(p); err == nil {
				return ""
			}
		}
		return "systemd runs but its manager has no socket here (" + systemBusPath() + ", /run/systemd/private)"
	}
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" {
		p, isPath := strings.CutPrefix(a, "unix:path=")
		if _, err := os.Stat(p); !isPath || err == nil {
			return ""
		}
	}
	if rt := os.Getenv("XDG_RUNTIME_DIR"); rt != "" {
		for _, p := range []string{rt + "/bus", rt + "/systemd/private"} {
			if _, err := os.Stat(p); err == nil {
				return ""
			}
		}
	}
	return "no systemd user manager of yours is running (no session bus, no $XDG_RUNTIME_DIR/systemd/private: `loginctl enable-linger` starts one at boot)"
}

// Sockets are the paths by which a process of uid reaches a systemd
// manager that would act for it: for uid 0 the system manager (through
// the bus or its private socket) and root's own user manager, for anyone
// else their user manager (through /run/user/UID, and, for the caller's
// own uid, what its environment names). Symlinks are resolved, as a
// mount over one would not hide its target. An abstract socket
// (unix:abstract=) has no path: only a network namespace hides it.
func Sockets(uid int) []string {
	var ps []string
	user := func(dir string) { ps = append(ps, dir+"/bus", dir+"/systemd/private") }
	if uid == 0 {
		ps = append(ps, systemBusPath(), "/run/systemd/private")
	}
	user(fmt.Sprintf("/run/user/%d", uid))
	if uid == os.Getuid() {
		if rt := os.Getenv("XDG_RUNTIME_DIR"); rt != "" {
			user(rt)
		}
		if p, ok := strings.CutPrefix(os.Getenv("DBUS_SESSION_BUS_ADDRESS"), "unix:path="); ok {
			ps = append(ps, p)
		}
	}
	var out []string
	for _, p := range ps {
		if r, err := filepath.EvalSymlinks(p); err == nil && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// systemBusPath is where godbus dials the system bus by default.
func systemBusPath() string {
	if a, ok := strings.CutPrefix(os.Getenv("DBUS_SYSTEM_BUS_ADDRESS"), "unix:path="); ok {
		return a
	}
	return "/run/dbus/system_bus_socket"
}

// controlGroup reads a unit's ControlGroup (its cgroup path from the
// hierarchy's root).
func (c *Conn) controlGroup(unit string) (string, error) {
	p, err := c.c.GetUnitTypePropertyContext(context.Background(), unit, "Scope", "ControlGroup")
	if err != nil {
		return "", fmt.Errorf("read ControlGroup of %s: %w", unit, err)
	}
	s, ok := p.Value.Value().(string)
	if !ok || s == "" || !strings.HasPrefix(s, "/") {
		return "", fmt.Errorf("%s has no cgroup (ControlGroup %v)", unit, p.Value)
	}
	return s, nil
}

// ManagerCgroup is the directory of the manager's own cgroup (for a
// user manager, user@UID.service: what it may delegate).
func (c *Conn) ManagerCgroup() (string, error) {
	if c.mgrCgroup != "" {
		return c.mgrCgroup, nil
	}
	v, err := c.c.GetManagerProperty("ControlGroup")
	if err != nil {
		return "", fmt.Errorf("read the %s manager's ControlGroup: %w", c.Manager, err)
	}
	p, err := strconv.Unquote(v)
	if err != nil {
		p = strings.Trim(v, "'\"")
	}
	c.mgrCgroup = strings.TrimSuffix(cgroupfs.Mountpoint+p, "/")
	return c.mgrCgroup, nil
}

// wait waits for a job's result on ch.
func wait(ch <-chan string, what string) error {
	select {
	case r := <-ch:
		if r != "done" {
			return fmt.Errorf("%s: job %s", what, r)
		}
		return nil
	case <-time.After(jobTimeout):
		return fmt.Errorf("%s: no answer from systemd in %v", what, jobTimeout)
	}
}
