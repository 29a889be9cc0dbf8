package export

import (
	"fmt"
	"strings"

	"rcon/caps"
)

// capList is the capability list of c in lower case without "cap_", and
// whether it is inverted (the capabilities dropped, everything else kept),
// for targets that take "all but" lists (systemd's ~).
func capList(c *Caps) (names []string, inverted bool, err error) {
	if len(c.Drop) > 0 {
		s, err := caps.ParseSet(c.Drop)
		if err != nil {
			return nil, false, fmt.Errorf("caps.drop: %w", err)
		}
		if s == caps.All() {
			return nil, false, nil // drop all = keep none
		}
		return shortNames(s), true, nil
	}
	s, err := caps.ParseSet(c.Keep)
	if err != nil {
		return nil, false, fmt.Errorf("caps.keep: %w", err)
	}
	return shortNames(s), false, nil
}

// capSet is the set c leaves a command, out of every capability this
// host's kernel knows, for targets that take whole sets (OCI).
func capSet(c *Caps) (caps.Set, error) {
	names, inverted, err := capList(c)
	if err != nil {
		return 0, err
	}
	s, _ := caps.ParseSet(names)
	if inverted {
		s = caps.All() &^ s
	}
	return s, nil
}

func shortNames(s caps.Set) []string {
	var out []string
	for _, n := range s.Names() {
		out = append(out, strings.TrimPrefix(n, "cap_"))
	}
	return out
}
