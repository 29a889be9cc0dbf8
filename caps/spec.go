// Package caps computes, applies and reads back Linux capability sets.
package caps

// Spec says which capabilities a command keeps. PLACEHOLDER: the caps
// issue fills this in.
type Spec struct {
	Keep       []string `json:"keep,omitempty"`
	Drop       []string `json:"drop,omitempty"`
	NoNewPrivs bool     `json:"no_new_privs"`
}
