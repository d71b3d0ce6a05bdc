package testutil

import (
	"os/exec"
	"syscall"
)

// setDeathSignal kills cmd when this process dies, so that a second test
// run does not outlive a first one killed by the go command.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
