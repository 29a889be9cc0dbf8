package launch

import (
	"fmt"
	"os/exec"
)

// capsPlan turns s.Caps into the step run on the start thread just before
// the fork. PLACEHOLDER until the caps package lands.
func (s *Spec) capsPlan(cmd *exec.Cmd) (func() error, error) {
	if s.Caps == nil {
		return nil, nil
	}
	return nil, fmt.Errorf("capability pruning is not available yet")
}
