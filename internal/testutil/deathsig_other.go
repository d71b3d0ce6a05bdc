//go:build !linux

package testutil

import "os/exec"

// setDeathSignal does nothing here: only Linux has a parent-death signal.
func setDeathSignal(cmd *exec.Cmd) {}
