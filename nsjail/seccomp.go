package nsjail

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A uid-0 command without capabilities can still create a user
// namespace, where it holds every capability, mount the cgroup hierarchy
// afresh (writable, whatever ProtectSys made read-only) and write the
// root-owned files there as the uid 0 it still is outside: lift its quota,
// move itself to another group. Inside a user namespace of ours
// DisableUserNS stops that; a command left in the host's user namespace
// (so that the capabilities it keeps, such as net_bind_service, still
// work on the host) gets this filter instead: unshare and clone with
// CLONE_NEWUSER and setns into a user namespace fail with EPERM, clone3
// (whose flags a filter cannot read) with ENOSYS, so that the C library
// falls back to clone.

// seccompArch is one system call ABI the filter covers.
type seccompArch struct {
	audit                      uint32
	unshare, clone, setns, cl3 uint32
	x32                        bool // x86_64: fold x32 numbers (bit 30) onto the 64-bit ones
}

var seccompArches = map[string][]seccompArch{
	"amd64": {
		{audit: unix.AUDIT_ARCH_X86_64, unshare: 272, clone: 56, setns: 308, cl3: 435, x32: true},
		{audit: unix.AUDIT_ARCH_I386, unshare: 310, clone: 120, setns: 346, cl3: 435},
	},
	"arm64": {
		{audit: unix.AUDIT_ARCH_AARCH64, unshare: 97, clone: 220, setns: 268, cl3: 435},
	},
}

// bpf is a tiny assembler for classic BPF with forward labels.
type bpf struct {
	prog   []unix.SockFilter
	fixups []fixup
	labels map[string]int
}

type fixup struct {
	at     int
	jt, jf string
}

func (b *bpf) stmt(code uint16, k uint32) { b.prog = append(b.prog, unix.SockFilter{Code: code, K: k}) }

// jump emits a conditional jump to labels jt/jf ("" = the next instruction).
func (b *bpf) jump(code uint16, k uint32, jt, jf string) {
	b.fixups = append(b.fixups, fixup{at: len(b.prog), jt: jt, jf: jf})
	b.prog = append(b.prog, unix.SockFilter{Code: code, K: k})
}

func (b *bpf) label(name string) { b.labels[name] = len(b.prog) }

func (b *bpf) resolve() error {
	for _, f := range b.fixups {
		for _, x := range []struct {
			name string
			dst  *uint8
		}{{f.jt, &b.prog[f.at].Jt}, {f.jf, &b.prog[f.at].Jf}} {
			if x.name == "" {
				continue
			}
			to, ok := b.labels[x.name]
			off := to - f.at - 1
			if !ok || off < 0 || off > 255 {
				return fmt.Errorf("seccomp: bad jump to %q", x.name)
			}
			*x.dst = uint8(off)
		}
	}
	return nil
}

const (
	seccompDataNr   = 0
	seccompDataArch = 4
	seccompDataArg0 = 16 // low 32 bits on little-endian
	seccompDataArg1 = 24
)

// denyUserNSProgram builds the filter for this architecture.
func denyUserNSProgram() ([]unix.SockFilter, error) {
	arches, ok := seccompArches[runtime.GOARCH]
	if !ok {
		return nil, fmt.Errorf("seccomp: no filter for %s", runtime.GOARCH)
	}
	b := &bpf{labels: map[string]int{}}
	for i, a := range arches {
		next := fmt.Sprintf("arch%d", i+1)
		b.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, seccompDataArch)
		b.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, a.audit, "", next)
		b.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, seccompDataNr)
		if a.x32 {
			b.stmt(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, ^uint32(0x40000000))
		}
		b.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, a.unshare, "flags0", "")
		b.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, a.clone, "flags0", "")
		b.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, a.setns, "setns", "")
		b.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, a.cl3, "enosys", "")
		b.stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW)
		b.label(next)
	}
	// Another ABI than the ones covered: refused, so it cannot be a way
	// around the filter.
	b.stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS))
	b.label("flags0")
	b.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, seccompDataArg0)
	b.jump(unix.BPF_JMP|unix.BPF_JSET|unix.BPF_K, unix.CLONE_NEWUSER, "eperm", "allow")
	b.label("setns")
	// nstype 0 means "whatever fd names", a user namespace included.
	b.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, seccompDataArg1)
	b.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, 0, "eperm", "")
	b.jump(unix.BPF_JMP|unix.BPF_JSET|unix.BPF_K, unix.CLONE_NEWUSER, "eperm", "allow")
	b.label("eperm")
	b.stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM))
	b.label("enosys")
	b.stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS))
	b.label("allow")
	b.stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW)
	return b.prog, b.resolve()
}

// DenyUserNS installs the filter on the calling thread, which must be
// locked (runtime.LockOSThread) and never unlocked: a command forked from
// it inherits the filter. It needs CAP_SYS_ADMIN or no_new_privs.
func DenyUserNS() error {
	prog, err := denyUserNSProgram()
	if err != nil {
		return err
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)), 0, 0); err != nil {
		return fmt.Errorf("seccomp filter against user namespaces: %w", err)
	}
	return nil
}
