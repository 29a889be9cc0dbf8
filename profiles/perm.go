package profiles

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// PermError is a profile refused because someone other than root (or the
// user running rcon) could change it: run as root, such a profile would let
// them choose what root runs and with which privileges.
type PermError struct {
	File   string
	Reason string
	Fix    string
}

func (e *PermError) Error() string {
	return fmt.Sprintf("%s: refusing profile: %s; fix: %s", e.File, e.Reason, e.Fix)
}

// checkOwner refuses, when euid is 0, a file that is group- or
// world-writable or owned by anyone but root. For other users the profile
// can only grant what they already have, so nothing is checked.
func checkOwner(path string, fi fs.FileInfo, euid int) error {
	if euid != 0 {
		return nil
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return &PermError{File: path,
			Reason: fmt.Sprintf("it is writable by group or others (mode %04o) and rcon runs as root", fi.Mode().Perm()),
			Fix:    "chmod go-w " + path}
	}
	if uid, ok := ownerOf(fi); ok && uid != 0 {
		return &PermError{File: path,
			Reason: fmt.Sprintf("it is owned by uid %d, not root, and rcon runs as root", uid),
			Fix:    "chown root " + path}
	}
	return nil
}

// checkDir applies the same rule to the directory holding the file: whoever
// can write there can replace the file with one of their own. A sticky
// directory (/tmp) is safe in that respect: only the file's owner can
// rename or delete it, and the owner is checked by checkOwner.
func checkDir(path string, euid int) error {
	if euid != 0 {
		return nil
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("profile %s: %w", path, err)
	}
	dir := filepath.Dir(real)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("profile %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return &PermError{File: path,
			Reason: fmt.Sprintf("its directory %s is writable by group or others (mode %04o), so they could replace it, and rcon runs as root", dir, fi.Mode().Perm()),
			Fix:    "chmod go-w " + dir}
	}
	if uid, ok := ownerOf(fi); ok && uid != 0 {
		return &PermError{File: path,
			Reason: fmt.Sprintf("its directory %s is owned by uid %d, who could replace it, and rcon runs as root", dir, uid),
			Fix:    "chown root " + dir}
	}
	return nil
}

func ownerOf(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
