package caps

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

func TestAllThreadsErrNamesCgo(t *testing.T) {
	err := allThreadsErr("clear ambient capabilities", syscall.ENOTSUP)
	if !errors.Is(err, ErrCgo) || !errors.Is(err, syscall.ENOTSUP) || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("ENOTSUP: %v; want ErrCgo naming CGO_ENABLED=0, wrapping ENOTSUP", err)
	}
	if err := allThreadsErr("x", syscall.EPERM); errors.Is(err, ErrCgo) || !errors.Is(err, syscall.EPERM) {
		t.Errorf("EPERM: %v", err)
	}
	if err := allThreadsErr("x", 0); err != nil {
		t.Errorf("0: %v", err)
	}
}
