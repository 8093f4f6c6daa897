//go:build linux

package localenv

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func setProcessAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group, so kill can take its children along.
		Setpgid: true,
		// Die with the program that started it (a test binary, the
		// demo) even when its cleanups never run, e.g. on a -timeout
		// panic or a second Ctrl-C. (Linux sends it when the thread
		// that started the child exits; the Go runtime keeps its
		// threads unless a goroutine locked to one exits, which this
		// package does not do.)
		Pdeathsig: syscall.SIGKILL,
	}
}

func terminate(p *os.Process) { _ = p.Signal(syscall.SIGTERM) }

func kill(p *os.Process) {
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	_ = p.Kill()
}

// procID identifies a process across pid reuse: its pid and its start time
// (in clock ticks since boot, from /proc/PID/stat).
type procID struct {
	pid   int
	start string
}

// procStat is what /proc/PID/stat says about a process.
type procStat struct {
	id         procID
	state      string
	ppid, pgrp int
}

// readStat reads /proc/PID/stat; ok is false once the process is gone.
func readStat(pid int) (st procStat, ok bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// pid (comm) state ppid pgrp ... starttime (field 22); comm may hold
	// spaces and parentheses.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return procStat{}, false
	}
	st.id = procID{pid: pid, start: f[19]}
	st.state = f[0]
	st.ppid, _ = strconv.Atoi(f[1])
	st.pgrp, _ = strconv.Atoi(f[2])
	return st, true
}

// live reports whether a process is running (zombies are gone, only not yet
// reaped by whoever inherited them).
func (st procStat) live() bool { return st.state != "Z" && st.state != "X" }

// allProcs lists every process in /proc.
func allProcs() []procStat {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var all []procStat
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok {
			all = append(all, st)
		}
	}
	return all
}

// descendants lists the processes below pid (children, grandchildren, ...):
// the runtime emulator's bootstrap, which it starts in a process group of its
// own.
func descendants(pid int) []procID {
	children := map[int][]procStat{}
	for _, st := range allProcs() {
		children[st.ppid] = append(children[st.ppid], st)
	}
	var out []procID
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c.id)
			queue = append(queue, c.id.pid)
		}
	}
	return out
}

// leftovers lists the live processes of the process group that the child
// pid led, and those of known (descendants recorded before it was stopped)
// that still run. A process group id stays reserved while any member lives,
// and known carries start times, so neither can name someone else's process.
func leftovers(pid int, known []procID) []int {
	var pids []int
	for _, st := range allProcs() {
		if st.live() && st.pgrp == pid {
			pids = append(pids, st.id.pid)
		}
	}
	for _, id := range known {
		if st, ok := readStat(id.pid); ok && st.id == id && st.live() && st.pgrp != pid {
			pids = append(pids, id.pid)
		}
	}
	return pids
}

// sweep kills what outlived the child pid: the rest of its process group and
// the descendants recorded before it was stopped (a bootstrap whose runtime
// emulator was killed). It reports whether any of them still runs after a
// short wait.
func sweep(pid int, known []procID) (remaining bool) {
	left := leftovers(pid, known)
	if len(left) == 0 {
		return false
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	for _, p := range left {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(leftovers(pid, known)) > 0 {
		if time.Now().After(deadline) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
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
