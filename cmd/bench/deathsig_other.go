//go:build !linux

package main

import "os/exec"

// setDeathSignal does nothing off Linux: the bench stops its children on
// every exit it sees, but a SIGKILL of the bench leaves them running.
func setDeathSignal(*exec.Cmd) {}
