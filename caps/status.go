package caps

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Status is what /proc/PID/status says about a task's privileges.
type Status struct {
	Pid        int // 0 when read from /proc/thread-self
	Name       string
	Inh        Set
	Prm        Set
	Eff        Set
	Bnd        Set
	Amb        Set
	NoNewPrivs bool
	Seccomp    int    // 0 disabled, 1 strict, 2 filter
	Uid        [4]int // real, effective, saved, filesystem
	Gid        [4]int
	Groups     []int
	// Securebits are not in /proc; they are only known for the calling
	// thread (ReadStatus(0) fills them), nil otherwise.
	Securebits *int
}

// ReadStatus reads /proc/PID/status; pid 0 means the calling thread
// (/proc/thread-self, not /proc/self, which is the main thread: after
// ApplyToThread on a locked thread the two differ).
func ReadStatus(pid int) (*Status, error) {
	path := "/proc/thread-self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("caps: %w", err)
	}
	defer f.Close()
	st, err := ParseStatus(f)
	if err != nil {
		return nil, fmt.Errorf("caps: %s: %w", path, err)
	}
	st.Pid = pid
	if pid == 0 {
		sb, err := ReadSecurebits()
		if err != nil {
			return nil, err
		}
		st.Securebits = &sb
	}
	return st, nil
}

// ParseStatus parses the text of a /proc/PID/status file. The capability
// lines must all be there: a kernel without them cannot run this tool.
func ParseStatus(r io.Reader) (*Status, error) {
	st := &Status{}
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var err error
		switch key {
		case "Name":
			st.Name = val
		case "CapInh":
			st.Inh, err = parseHex(val)
		case "CapPrm":
			st.Prm, err = parseHex(val)
		case "CapEff":
			st.Eff, err = parseHex(val)
		case "CapBnd":
			st.Bnd, err = parseHex(val)
		case "CapAmb":
			st.Amb, err = parseHex(val)
		case "NoNewPrivs":
			st.NoNewPrivs = val == "1"
		case "Seccomp":
			st.Seccomp, err = strconv.Atoi(val)
		case "Uid":
			st.Uid, err = parseIDs(val)
		case "Gid":
			st.Gid, err = parseIDs(val)
		case "Groups":
			for _, f := range strings.Fields(val) {
				g, e := strconv.Atoi(f)
				if e != nil {
					err = e
					break
				}
				st.Groups = append(st.Groups, g)
			}
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		seen[key] = true
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Uid", "Gid"} {
		if !seen[k] {
			return nil, fmt.Errorf("no %s line", k)
		}
	}
	return st, nil
}

func parseHex(s string) (Set, error) {
	v, err := strconv.ParseUint(s, 16, 64)
	return Set(v), err
}

func parseIDs(s string) ([4]int, error) {
	var ids [4]int
	f := strings.Fields(s)
	if len(f) != 4 {
		return ids, fmt.Errorf("want 4 ids, got %q", s)
	}
	for i := range ids {
		v, err := strconv.Atoi(f[i])
		if err != nil {
			return ids, err
		}
		ids[i] = v
	}
	return ids, nil
}

// Securebits (include/uapi/linux/securebits.h); x/sys/unix has none.
const (
	SecbitNoroot                    = 1 << 0
	SecbitNorootLocked              = 1 << 1
	SecbitNoSetuidFixup             = 1 << 2
	SecbitNoSetuidFixupLocked       = 1 << 3
	SecbitKeepCaps                  = 1 << 4
	SecbitKeepCapsLocked            = 1 << 5
	SecbitNoCapAmbientRaise         = 1 << 6
	SecbitNoCapAmbientRaiseLocked   = 1 << 7
	SecbitExecRestrictFile          = 1 << 8
	SecbitExecRestrictFileLocked    = 1 << 9
	SecbitExecDenyInteractive       = 1 << 10
	SecbitExecDenyInteractiveLocked = 1 << 11
)

var securebitNames = []string{
	"noroot", "noroot_locked", "no_setuid_fixup", "no_setuid_fixup_locked",
	"keep_caps", "keep_caps_locked", "no_cap_ambient_raise", "no_cap_ambient_raise_locked",
	"exec_restrict_file", "exec_restrict_file_locked", "exec_deny_interactive", "exec_deny_interactive_locked",
}

// SecurebitNames names the bits set in b, lowest first; unknown bits print
// as "bitN".
func SecurebitNames(b int) []string {
	var out []string
	for i := 0; i < 32; i++ {
		if b&(1<<i) == 0 {
			continue
		}
		if i < len(securebitNames) {
			out = append(out, securebitNames[i])
		} else {
			out = append(out, "bit"+strconv.Itoa(i))
		}
	}
	return out
}

// ReadSecurebits returns the calling thread's securebits.
func ReadSecurebits() (int, error) {
	b, err := unix.PrctlRetInt(unix.PR_GET_SECUREBITS, 0, 0, 0, 0)
	if err != nil {
		return 0, fmt.Errorf("caps: prctl(PR_GET_SECUREBITS): %w", err)
	}
	return b, nil
}

type setJSON struct {
	Hex   string   `json:"hex"`
	Names []string `json:"names"`
}

type securebitsJSON struct {
	Value int      `json:"value"`
	Hex   string   `json:"hex"`
	Names []string `json:"names"`
}

type statusJSON struct {
	Pid         int             `json:"pid"`
	Name        string          `json:"name"`
	Uid         [4]int          `json:"uid"`
	Gid         [4]int          `json:"gid"`
	Groups      []int           `json:"groups"`
	NoNewPrivs  bool            `json:"no_new_privs"`
	Seccomp     int             `json:"seccomp"`
	Securebits  *securebitsJSON `json:"securebits"`
	Inheritable setJSON         `json:"inheritable"`
	Permitted   setJSON         `json:"permitted"`
	Effective   setJSON         `json:"effective"`
	Bounding    setJSON         `json:"bounding"`
	Ambient     setJSON         `json:"ambient"`
}

func toSetJSON(s Set) setJSON {
	n := s.Names()
	if n == nil {
		n = []string{}
	}
	return setJSON{Hex: s.Hex(), Names: n}
}

// FormatStatus renders st for `capcon show`: as text (each set as hex and
// as `capsh --decode` names it) or, with asJSON, as one JSON object with
// the same facts. Securebits print only when known (the calling thread).
func FormatStatus(st *Status, asJSON bool) string {
	if asJSON {
		j := statusJSON{
			Pid: st.Pid, Name: st.Name, Uid: st.Uid, Gid: st.Gid, Groups: st.Groups,
			NoNewPrivs: st.NoNewPrivs, Seccomp: st.Seccomp,
			Inheritable: toSetJSON(st.Inh), Permitted: toSetJSON(st.Prm),
			Effective: toSetJSON(st.Eff), Bounding: toSetJSON(st.Bnd), Ambient: toSetJSON(st.Amb),
		}
		if j.Groups == nil {
			j.Groups = []int{}
		}
		if st.Securebits != nil {
			n := SecurebitNames(*st.Securebits)
			if n == nil {
				n = []string{}
			}
			j.Securebits = &securebitsJSON{Value: *st.Securebits, Hex: fmt.Sprintf("0x%x", *st.Securebits), Names: n}
		}
		b, err := json.MarshalIndent(j, "", "  ")
		if err != nil {
			// Only plain ints, strings and slices above: cannot fail.
			panic(err)
		}
		return string(b) + "\n"
	}
	var b bytes.Buffer
	if st.Pid != 0 {
		fmt.Fprintf(&b, "pid:          %d (%s)\n", st.Pid, st.Name)
	} else {
		fmt.Fprintf(&b, "pid:          self (%s)\n", st.Name)
	}
	fmt.Fprintf(&b, "uid:          %d %d %d %d (real effective saved fs)\n", st.Uid[0], st.Uid[1], st.Uid[2], st.Uid[3])
	fmt.Fprintf(&b, "gid:          %d %d %d %d (real effective saved fs)\n", st.Gid[0], st.Gid[1], st.Gid[2], st.Gid[3])
	groups := make([]string, len(st.Groups))
	for i, g := range st.Groups {
		groups[i] = strconv.Itoa(g)
	}
	fmt.Fprintf(&b, "groups:       %s\n", strings.Join(groups, " "))
	nnp := 0
	if st.NoNewPrivs {
		nnp = 1
	}
	fmt.Fprintf(&b, "no_new_privs: %d\n", nnp)
	fmt.Fprintf(&b, "seccomp:      %d\n", st.Seccomp)
	if st.Securebits != nil {
		fmt.Fprintf(&b, "securebits:   0x%x %s\n", *st.Securebits, strings.Join(SecurebitNames(*st.Securebits), ","))
	} else {
		fmt.Fprintf(&b, "securebits:   unknown (only readable for the calling process)\n")
	}
	for _, s := range []struct {
		k string
		v Set
	}{{"CapInh", st.Inh}, {"CapPrm", st.Prm}, {"CapEff", st.Eff}, {"CapBnd", st.Bnd}, {"CapAmb", st.Amb}} {
		fmt.Fprintf(&b, "%s:       0x%s=%s\n", s.k, s.v.Hex(), s.v.List())
	}
	return b.String()
}
