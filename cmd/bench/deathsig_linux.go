package main

import (
	"os/exec"
	"syscall"
)

// setDeathSignal has the kernel kill cmd when the bench dies, however it
// dies: no dispatchd is left running after a crash or a SIGKILL.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
