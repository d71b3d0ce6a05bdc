//go:build !linux

package testutil

import "time"

// ThreadCPU returns the CPU time the calling OS thread has used: 0 off
// Linux (see the Linux version).
func ThreadCPU() time.Duration { return 0 }
