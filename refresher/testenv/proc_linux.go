//go:build linux

package testenv

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

func setProcessAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group, so kill can take its children along.
		Setpgid: true,
		// Die with the test binary even when its cleanups never run.
		// (Linux sends it when the thread that started the child exits;
		// the Go runtime keeps its threads unless a goroutine locked to
		// one exits, which these tests do not do.)
		Pdeathsig: syscall.SIGKILL,
	}
}

func terminate(p *os.Process) { _ = p.Signal(syscall.SIGTERM) }

func kill(p *os.Process) {
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	_ = p.Kill()
}

// listensOn reports whether process pid holds a listening TCP socket on
// addr's port (read from /proc; ok is false when that cannot be told). It
// tells our server from someone else's that took the port first.
func listensOn(pid int, addr string) (owned, ok bool) {
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return false, false
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return false, false
	}
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
				continue
			}
			i := strings.LastIndexByte(f[1], ':')
			if p, err := strconv.ParseUint(f[1][i+1:], 16, 16); err == nil && int(p) == port {
				inodes["socket:["+f[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return false, true // nobody listens there (yet)
	}
	fdDir := "/proc/" + strconv.Itoa(pid) + "/fd"
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return false, false
	}
	for _, fd := range fds {
		if target, err := os.Readlink(fdDir + "/" + fd.Name()); err == nil && inodes[target] {
			return true, true
		}
	}
	return false, true
}
