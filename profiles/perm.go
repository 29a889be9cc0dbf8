package profiles

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// PermError is a profile refused because someone other than root could
// change it: run as root, such a profile would let them choose what root
// runs and with which privileges.
type PermError struct {
	File   string
	Reason string
	Fix    string
}

func (e *PermError) Error() string {
	return fmt.Sprintf("%s: refusing profile: %s; fix: %s", e.File, e.Reason, e.Fix)
}

// maxLinks bounds the symlinks followed while checking a path, as the
// kernel's ELOOP does.
const maxLinks = 40

// trusted reports whether owner may own what a profile's path goes
// through when rcon runs as root: root only. rcon runs as root only when
// root started it (it refuses a set-id start: launch.RefuseSetID), so
// root's files are the only ones that cannot come from someone else.
func trusted(owner int) bool { return owner == 0 }

// checkOwner refuses, when euid is 0, a file that is group- or
// world-writable or owned by anyone but root. For
// other users the profile can only grant what they already have, so
// nothing is checked.
func checkOwner(path string, fi fs.FileInfo, euid int) error {
	if euid != 0 {
		return nil
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return &PermError{File: path,
			Reason: fmt.Sprintf("it is writable by group or others (mode %04o) and rcon runs as root", fi.Mode().Perm()),
			Fix:    "chmod go-w " + path}
	}
	if owner, ok := ownerOf(fi); ok && !trusted(owner) {
		return &PermError{File: path,
			Reason: fmt.Sprintf("it is owned by uid %d, not root, and rcon runs as root", owner),
			Fix:    "chown root " + path}
	}
	return nil
}

// checkPath refuses, when euid is 0, a profile whose path someone other
// than root could redirect: whoever can write to any
// directory on the way (not only the last one: with /etc/rcon writable,
// profiles/ itself can be swapped), or owns a symlink on it, chooses the
// file rcon reads. Like sshd's StrictModes, but over
// every component of the path as given and of each symlink's target, as
// the kernel walks them: every directory entered, from /, must be owned by
// root and not writable by group or others, unless it
// is sticky and owned by root (/tmp: there, only an entry's owner may
// replace it, and that owner is checked at the next step). The walk must
// end at the file that was opened (opened), so the file checked is the
// file read even if the path changed meanwhile.
func checkPath(path string, opened fs.FileInfo, euid int) error {
	if euid != 0 {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("profile %s: %w", path, err)
	}
	fi, err := os.Stat("/")
	if err != nil {
		return fmt.Errorf("profile %s: %w", path, err)
	}
	if err := checkPathDir(path, "/", fi); err != nil {
		return err
	}
	cur, todo, links := "/", components(abs), 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		if c == ".." {
			// cur has no symlinks left in it, so its lexical parent is
			// where the kernel goes, and was checked on the way down.
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		if err != nil {
			return fmt.Errorf("profile %s: %w", path, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if links++; links > maxLinks {
				return fmt.Errorf("profile %s: more than %d symlinks on its path", path, maxLinks)
			}
			// A symlink cannot be changed, only replaced, which its
			// directory's check covers; but in a sticky directory its
			// owner may replace it.
			if owner, ok := ownerOf(fi); ok && !trusted(owner) {
				return &PermError{File: path,
					Reason: fmt.Sprintf("the symlink %s on its path is owned by uid %d, who could point it elsewhere, and rcon runs as root", next, owner),
					Fix:    "chown -h root " + next}
			}
			target, err := os.Readlink(next)
			if err != nil {
				return fmt.Errorf("profile %s: %w", path, err)
			}
			if filepath.IsAbs(target) {
				cur = "/"
			}
			todo = append(components(target), todo...)
			continue
		}
		if len(todo) == 0 {
			if !os.SameFile(fi, opened) {
				return fmt.Errorf("profile %s: the file changed while it was being checked", path)
			}
			return nil
		}
		if !fi.IsDir() {
			return fmt.Errorf("profile %s: %s: %w", path, next, syscall.ENOTDIR)
		}
		if err := checkPathDir(path, next, fi); err != nil {
			return err
		}
		cur = next
	}
	// The path ended in a directory ("/", or a symlink to one); read
	// refuses that before we get here.
	return fmt.Errorf("profile %s: not a regular file", path)
}

// checkPathDir applies checkPath's rule to one directory on the way.
func checkPathDir(path, dir string, fi fs.FileInfo) error {
	owner, ok := ownerOf(fi)
	if ok && !trusted(owner) {
		return &PermError{File: path,
			Reason: fmt.Sprintf("the directory %s on its path is owned by uid %d, who could replace what is in it, and rcon runs as root", dir, owner),
			Fix:    "chown root " + dir}
	}
	if fi.Mode().Perm()&0o022 != 0 && (fi.Mode()&fs.ModeSticky == 0 || owner != 0) {
		return &PermError{File: path,
			Reason: fmt.Sprintf("the directory %s on its path is writable by group or others (mode %s), so they could replace what is in it, and rcon runs as root", dir, modeText(fi)),
			Fix:    "chmod go-w " + dir}
	}
	return nil
}

// components splits a path into its names, without empty ones and ".".
func components(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// modeText is the octal mode with the sticky bit, as chmod takes it.
func modeText(fi fs.FileInfo) string {
	m := fi.Mode().Perm()
	if fi.Mode()&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return fmt.Sprintf("%04o", uint32(m))
}

func ownerOf(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
