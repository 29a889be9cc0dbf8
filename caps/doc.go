// Package caps computes, applies and reads back Linux capability sets, for
// capcon and rcon's --keep/--drop/--allow-new-privs.
//
// The API:
//
//	Set, ParseSet, ParseName, Name, All, LastCap  names and bitmasks ("net_raw", "CAP_NET_RAW", "all", "none")
//	Spec, (*Spec).Validate                        --keep/--drop as plain data (launch.Spec.Caps)
//	(*Spec).Plan(switchUser) *Plan                the thread state, from the caller's current sets
//	(*Plan).ApplyToThread, (*Plan).Ambient        put a locked thread in that state; ambient for SysProcAttr
//	Status, ReadStatus, ParseStatus, FormatStatus /proc/PID/status, for `capcon show`
//	ReadSecurebits, SecurebitNames                securebits of the calling thread
//	HasEffective                                  one capability of the calling thread
//	DropAmbientAllThreads, ProbeAllThreads, ErrCgo ambient and inheritable sets of every thread (nsjail's init)
//
// Why a locked thread: capabilities, the bounding set, securebits and
// no_new_privs are per thread, and a child forked from a thread inherits
// that thread's state. The launcher therefore does, in this order:
//
//  1. spec.Validate() while parsing flags (bad names exit 125 early);
//  2. plan, err := spec.Plan(switchUser) on any thread whose state is still
//     the process's own (errors: a cap to keep is not held, the user switch
//     lacks cap_setuid/cap_setgid);
//  3. in a new goroutine: runtime.LockOSThread() and never unlock, so the
//     thread dies with the goroutine instead of serving other goroutines
//     with pruned capabilities;
//  4. on it, plan.ApplyToThread(): no_new_privs; then, if the caller holds
//     CAP_SETPCAP, the bounding set pruned to the target and
//     SECBIT_NOROOT|SECBIT_NOROOT_LOCKED set (root gains nothing through
//     exec), both while CAP_SETPCAP is still effective; then capset:
//     Permitted = Effective = target + CAP_SETUID/CAP_SETGID if a user
//     switch is pending, Inheritable = target; ambient cleared. It reads
//     /proc/thread-self/status back and returns an error on any mismatch;
//  5. on the same thread, exec.Cmd.Start with SysProcAttr{Credential: ...,
//     AmbientCaps: plan.Ambient()}. Go's child sets PR_SET_KEEPCAPS, does
//     setgroups/setgid/setuid, adds the ambient caps to P and I and raises
//     them, then execs: the program ends with P = E = I = Ambient = Bounding
//     = target, as root or not, because only the ambient set survives a
//     non-root (or SECBIT_NOROOT) exec.
//
// ApplyToThread refuses the main thread: Go never lets a locked main
// thread die, and /proc/PID/status (what others see of the process) is the
// main thread's. launch.startIn keeps the throwaway goroutine off it: if
// it lands on the main thread it holds that thread locked and does the
// work on a nested goroutine. (Locking the main goroutine in an init
// function would do too, but costs every run thread hand-offs.)
//
// A caller without CAP_SETPCAP (an ordinary user) can still drop: the
// bounding set and securebits stay as they are and Plan.Bounding says so.
// Such a root caller with --allow-new-privs is refused, since exec would
// re-grant the bounding set; with no_new_privs on it cannot.
//
// github.com/syndtr/gocapability does the capset and bounding work; its
// silent failures (Apply(BOUNDS) without CAP_SETPCAP, Apply(AMBS) errors,
// Load reading the main thread) are why ambient and securebits use prctl
// directly and why everything is read back from /proc/thread-self.
package caps
