package localenv

import (
	"bytes"
	"strings"
	"sync"
	"time"
)

// logBuffer collects a child process's stdout and stderr. It is safe for
// concurrent use, and lets a reader wait (bounded) until some text appears
// without polling on a fixed sleep.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every Write
}

func newLogBuffer() *logBuffer {
	return &logBuffer{changed: make(chan struct{})}
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	close(b.changed)
	b.changed = make(chan struct{})
	return n, err
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// snapshot returns the current text and a channel closed at the next Write.
func (b *logBuffer) snapshot() (string, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String(), b.changed
}

// waitFor waits until the text contains s, stop is closed, or timeout passes.
// It reports whether s appeared.
func (b *logBuffer) waitFor(s string, timeout time.Duration, stop <-chan struct{}) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		text, changed := b.snapshot()
		if strings.Contains(text, s) {
			return true
		}
		select {
		case <-changed:
		case <-stop:
			// The writer may have flushed its last output just before
			// stopping: look once more.
			return strings.Contains(b.String(), s)
		case <-deadline.C:
			return false
		}
	}
}

// tail returns at most the last n bytes of the text, for failure messages.
func (b *logBuffer) tail(n int) string {
	s := b.String()
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
