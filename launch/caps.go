package launch

import (
	"os/exec"

	"rcon/caps"
)

// capsPlan turns s.Caps into the plan applied on the start thread just
// before the fork (after it entered the group), and sets the ambient capabilities
// the child raises after its uid switch. It must be called once the
// credential is set: a pending switch keeps CAP_SETUID/CAP_SETGID on the
// thread until the child has used them.
func (s *job) capsPlan(cmd *exec.Cmd) (*caps.Plan, error) {
	if s.Caps == nil {
		return nil, nil
	}
	p, err := s.Caps.Plan(cmd.SysProcAttr.Credential != nil)
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr.AmbientCaps = p.Ambient()
	return p, nil
}
