package caps

import (
	"errors"
	"fmt"
	"strings"

	"github.com/syndtr/gocapability/capability"
	"golang.org/x/sys/unix"
)

// Plan is the thread state that makes a command forked from the thread end
// up with the Spec's capabilities, computed once from the caller's sets.
type Plan struct {
	// SetsChanged is false for a Spec without --keep/--drop: only
	// no_new_privs is touched then.
	SetsChanged bool
	// Target is what the command holds after exec: Permitted, Effective,
	// Inheritable and Ambient.
	Target Set
	// Bounding is the bounding set after ApplyToThread: Target when the
	// caller holds CAP_SETPCAP, else the caller's unchanged bounding set.
	Bounding Set
	// Helper are caps the thread keeps in Permitted and Effective beyond
	// Target (CAP_SETUID, CAP_SETGID for a pending user switch). They do
	// not survive exec: a non-root exec gets only the ambient set, and the
	// bounding set no longer has them.
	Helper Set
	// NoNewPrivs is the no_new_privs flag after ApplyToThread.
	NoNewPrivs bool
	// Securebits after ApplyToThread.
	Securebits int

	setBounding   bool // caller holds CAP_SETPCAP: prune bounding, set securebits
	setSecurebits int  // bits to add
}

// Bits set for a privileged --keep/--drop: exec by uid 0 no longer grants
// anything (root is treated like any user, so only the ambient set
// survives), and the command cannot undo it. SECBIT_KEEP_CAPS is left
// alone and unlocked because Go's child calls PR_SET_KEEPCAPS before
// setuid; SECBIT_NO_CAP_AMBIENT_RAISE would stop Go raising the ambient set.
const plannedSecurebits = SecbitNoroot | SecbitNorootLocked

// Plan computes the thread state from the calling thread's current sets
// (/proc/thread-self/status), which must be the caller's unmodified ones.
// switchUser says the child will be started with SysProcAttr.Credential
// (setgroups/setgid/setuid in the child), which needs CAP_SETGID and
// CAP_SETUID kept on the thread until the fork.
func (s *Spec) Plan(switchUser bool) (*Plan, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	cur, err := ReadStatus(0)
	if err != nil {
		return nil, err
	}
	return s.planFrom(cur, switchUser)
}

func (s *Spec) planFrom(cur *Status, switchUser bool) (*Plan, error) {
	keep, err := ParseSet(s.Keep)
	if err != nil {
		return nil, fmt.Errorf("caps: --keep: %w", err)
	}
	drop, err := ParseSet(s.Drop)
	if err != nil {
		return nil, fmt.Errorf("caps: --drop: %w", err)
	}
	p := &Plan{
		SetsChanged: s.ChangesSets(),
		NoNewPrivs:  !s.AllowNewPrivs || cur.NoNewPrivs, // cannot be unset once on
		Bounding:    cur.Bnd,
	}
	if cur.Securebits != nil {
		p.Securebits = *cur.Securebits
	}
	if switchUser {
		need := Set(1<<capSetuid | 1<<capSetgid)
		if miss := need &^ cur.Eff; miss != 0 {
			return nil, fmt.Errorf("caps: switching user needs %s, which this process does not hold", miss)
		}
		p.Helper = need
	}
	if !p.SetsChanged {
		p.Helper = 0 // nothing is pruned; the thread keeps what it has
		return p, nil
	}

	switch {
	case s.Keeping():
		if miss := keep &^ cur.Prm; miss != 0 {
			return nil, fmt.Errorf("caps: cannot keep %s: not held by this process (permitted: %s)", miss, cur.Prm)
		}
		// Inheritable (hence ambient) can only hold bounding-set caps.
		if miss := keep &^ cur.Bnd; miss != 0 {
			return nil, fmt.Errorf("caps: cannot keep %s: not in this process's bounding set", miss)
		}
		p.Target = keep
	default:
		p.Target = cur.Prm & cur.Bnd &^ drop
	}
	p.Helper &^= p.Target

	p.setBounding = cur.Prm.Has(capSetpcap)
	if p.setBounding {
		p.Bounding = p.Target
		p.setSecurebits = plannedSecurebits
		p.Securebits |= plannedSecurebits
	} else if !p.NoNewPrivs && !switchUser && (cur.Uid[1] == 0 || cur.Uid[0] == 0) {
		// Without CAP_SETPCAP neither the bounding set nor SECBIT_NOROOT
		// can change, and exec by root re-grants the whole bounding set;
		// only no_new_privs (which caps exec's grant at the old permitted
		// set) stops that.
		if back := cur.Bnd &^ p.Target; back != 0 {
			return nil, fmt.Errorf("caps: without cap_setpcap, root would regain %s through exec; keep no_new_privs on", back)
		}
	}
	if p.Target != 0 && p.Securebits&SecbitNoCapAmbientRaise != 0 {
		return nil, errors.New("caps: securebit no_cap_ambient_raise is set, so capabilities cannot survive exec")
	}
	return p, nil
}

// Ambient lists the Target caps for SysProcAttr.AmbientCaps: Go's child
// adds them to its Permitted and Inheritable sets and raises them in
// Ambient just before execve, after the setuid, which is the only way they
// survive exec for a non-root command or for root under SECBIT_NOROOT.
func (p *Plan) Ambient() []uintptr {
	if !p.SetsChanged {
		return nil
	}
	var out []uintptr
	for _, c := range p.Target.Caps() {
		out = append(out, uintptr(c))
	}
	return out
}

// ErrMainThread is returned by ApplyToThread on the process's main thread.
var ErrMainThread = errors.New("caps: ApplyToThread on the main thread (lock the main goroutine in an init function so throwaway goroutines never land there)")

// ApplyToThread puts the calling OS thread into the planned state, then
// reads it back and fails if any set, no_new_privs or the securebits
// differ from the plan. The caller must have called runtime.LockOSThread
// and must never unlock: the thread is unfit for other goroutines and
// should die with its goroutine once the child is started. It refuses the
// main thread, which Go never lets die and whose /proc/PID/status others
// read as the whole process's.
func (p *Plan) ApplyToThread() error {
	if unix.Gettid() == unix.Getpid() {
		return ErrMainThread
	}
	cur, err := ReadStatus(0)
	if err != nil {
		return err
	}
	if miss := (p.Target | p.Helper) &^ cur.Prm; miss != 0 {
		return fmt.Errorf("caps: thread no longer holds %s", miss)
	}
	if p.NoNewPrivs && !cur.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("caps: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
		}
	}
	if p.SetsChanged {
		if err := p.applySets(cur); err != nil {
			return err
		}
	}
	return p.Verify()
}

func (p *Plan) applySets(cur *Status) error {
	c, err := capability.NewPid2(0) // pid 0: capget/capset act on this thread
	if err != nil {
		return fmt.Errorf("caps: %w", err)
	}
	if p.setBounding {
		// PR_CAPBSET_DROP and PR_SET_SECUREBITS need CAP_SETPCAP in
		// Effective, and gocapability's Apply(BOUNDS) silently does
		// nothing without it: raise Effective to Permitted first.
		c.Set(capability.PERMITTED|capability.EFFECTIVE, capList(cur.Prm)...)
		c.Set(capability.INHERITABLE, capList(cur.Inh)...)
		if err := c.Apply(capability.CAPS); err != nil {
			return fmt.Errorf("caps: capset (raise effective): %w", err)
		}
		c.Clear(capability.BOUNDING)
		c.Set(capability.BOUNDING, capList(p.Target)...)
		if err := c.Apply(capability.BOUNDS); err != nil {
			return fmt.Errorf("caps: dropping bounding set to %s: %w", p.Target, err)
		}
		sb, err := ReadSecurebits()
		if err != nil {
			return err
		}
		if err := unix.Prctl(unix.PR_SET_SECUREBITS, uintptr(sb|p.setSecurebits), 0, 0, 0); err != nil {
			return fmt.Errorf("caps: prctl(PR_SET_SECUREBITS, %#x): %w", sb|p.setSecurebits, err)
		}
	}
	// Last, because it gives up CAP_SETPCAP unless kept.
	c.Clear(capability.CAPS)
	c.Set(capability.PERMITTED|capability.EFFECTIVE, capList(p.Target|p.Helper)...)
	c.Set(capability.INHERITABLE, capList(p.Target)...)
	if err := c.Apply(capability.CAPS); err != nil {
		return fmt.Errorf("caps: capset permitted=effective=%s inheritable=%s: %w", p.Target|p.Helper, p.Target, err)
	}
	// Not gocapability's Apply(AMBS), which swallows errors. Go's child
	// raises exactly Target; leftovers would only be a subset of it, but
	// an empty thread ambient set keeps the read-back exact.
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("caps: prctl(PR_CAP_AMBIENT_CLEAR_ALL): %w", err)
	}
	return nil
}

// Verify reads the calling thread's state back and compares it with the
// plan; ApplyToThread calls it, so libraries that fail silently cannot let
// a command run with more than planned.
func (p *Plan) Verify() error {
	st, err := ReadStatus(0)
	if err != nil {
		return err
	}
	return p.check(st)
}

func (p *Plan) check(st *Status) error {
	var bad []string
	cmp := func(name string, got, want Set) {
		if got != want {
			bad = append(bad, fmt.Sprintf("%s is %s (%s), want %s (%s)", name, got.Hex(), got, want.Hex(), want))
		}
	}
	if p.SetsChanged {
		cmp("CapPrm", st.Prm, p.Target|p.Helper)
		cmp("CapEff", st.Eff, p.Target|p.Helper)
		cmp("CapInh", st.Inh, p.Target)
		cmp("CapAmb", st.Amb, 0)
	}
	cmp("CapBnd", st.Bnd, p.Bounding)
	if st.NoNewPrivs != p.NoNewPrivs {
		bad = append(bad, fmt.Sprintf("NoNewPrivs is %v, want %v", st.NoNewPrivs, p.NoNewPrivs))
	}
	if st.Securebits != nil && *st.Securebits != p.Securebits {
		bad = append(bad, fmt.Sprintf("securebits are %#x, want %#x", *st.Securebits, p.Securebits))
	}
	if len(bad) > 0 {
		return fmt.Errorf("caps: thread state differs from plan: %s", strings.Join(bad, "; "))
	}
	return nil
}

func capList(s Set) []capability.Cap {
	var out []capability.Cap
	for _, c := range s.Caps() {
		out = append(out, capability.Cap(c))
	}
	return out
}
