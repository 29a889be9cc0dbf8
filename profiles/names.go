package profiles

import (
	"errors"
	"fmt"

	"rcon/caps"
	"rcon/nsjail"
)

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// Names are checked by the same parsers the CLIs use, so a name is valid in
// a profile exactly when it is valid on the command line.

func checkCaps(names []string) error {
	_, err := caps.ParseSet(names)
	return err
}

func checkNamespaces(names []string) error {
	if len(names) == 0 {
		return errors.New(`empty list: name namespaces (e.g. ["pid", "mount"]) or leave the key out`)
	}
	_, err := nsjail.Parse(names)
	return err
}
