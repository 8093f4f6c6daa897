//go:build !linux

package localenv

import (
	"os"
	"os/exec"
)

func setProcessAttrs(*exec.Cmd) {}

func terminate(p *os.Process) { _ = p.Signal(os.Interrupt) }

func kill(p *os.Process) { _ = p.Kill() }

// procID identifies a process; this system tells nothing about them.
type procID struct{}

// descendants cannot tell on this system.
func descendants(int) []procID { return nil }

// sweep cannot tell on this system: children have no process group of their
// own here.
func sweep(int, []procID) (remaining bool) { return false }

// listensOn cannot tell on this system.
func listensOn(int, string) (owned, ok bool) { return false, false }
