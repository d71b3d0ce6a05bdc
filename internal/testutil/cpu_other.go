//go:build !unix

package testutil

import "time"

// ProcessCPU returns 0: the CPU time is measured on Unix only.
func ProcessCPU() time.Duration { return 0 }
