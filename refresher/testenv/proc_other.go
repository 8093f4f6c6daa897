//go:build !linux

package testenv

import (
	"os"
	"os/exec"
)

func setProcessAttrs(*exec.Cmd) {}

func terminate(p *os.Process) { _ = p.Signal(os.Interrupt) }

func kill(p *os.Process) { _ = p.Kill() }

// listensOn cannot tell on this system.
func listensOn(int, string) (owned, ok bool) { return false, false }
