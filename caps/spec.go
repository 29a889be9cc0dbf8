package caps

import (
	"errors"
	"fmt"
)

// Spec says which capabilities a command keeps. It is plain data, filled by
// the CLIs (--keep, --drop, --allow-new-privs) and profiles; Plan turns it
// into thread state. The zero Spec changes no capability set and only turns
// no_new_privs on.
type Spec struct {
	// Keep is what the command gets: Permitted = Effective = Inheritable
	// = Bounding = Ambient = Keep.
	Keep []string `json:"keep,omitempty"`
	// KeepSet says --keep was given; it matters for "--keep none", whose
	// Keep list parses to the empty set but still means "drop everything".
	KeepSet bool `json:"keep_set,omitempty"`
	// Drop is removed from what the caller holds; the rest is kept as with Keep.
	Drop []string `json:"drop,omitempty"`
	// AllowNewPrivs leaves no_new_privs off, so setuid binaries and file
	// capabilities work again inside the command (within the bounding set).
	AllowNewPrivs bool `json:"allow_new_privs,omitempty"`
}

// Keeping reports whether the spec is a --keep one.
func (s *Spec) Keeping() bool { return s.KeepSet || len(s.Keep) > 0 }

// Dropping reports whether the spec is a --drop one.
func (s *Spec) Dropping() bool { return len(s.Drop) > 0 }

// ChangesSets reports whether the spec prunes capability sets at all (as
// opposed to only setting no_new_privs).
func (s *Spec) ChangesSets() bool { return s.Keeping() || s.Dropping() }

// Validate checks names and exclusivity without looking at the process, so
// the CLIs can reject a bad command line before anything is created.
func (s *Spec) Validate() error {
	if s.Keeping() && s.Dropping() {
		return errors.New("caps: --keep and --drop cannot be used together")
	}
	if _, err := ParseSet(s.Keep); err != nil {
		return fmt.Errorf("caps: --keep: %w", err)
	}
	if _, err := ParseSet(s.Drop); err != nil {
		return fmt.Errorf("caps: --drop: %w", err)
	}
	return nil
}
