package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/localenv"
)

// Size is the bootstrap's size for each Lambda architecture, built as the
// Makefile's build target builds it.
type Size struct {
	Arch  string `json:"arch"`
	Bytes int64  `json:"bytes"`
	// HelloBytes is the hello-world function built the same way.
	HelloBytes int64 `json:"hello_bytes"`
}

func sizes(dir string) ([]Size, error) {
	root, err := localenv.ModuleRoot()
	if err != nil {
		return nil, err
	}
	var out []Size
	for _, arch := range []string{"arm64", "amd64"} {
		s := Size{Arch: arch}
		for _, b := range []struct {
			pkg string
			dst *int64
		}{{"./cmd/refresher", &s.Bytes}, {"./bench/testdata/hello", &s.HelloBytes}} {
			bin := filepath.Join(dir, "size-"+arch+"-"+filepath.Base(b.pkg))
			cmd := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags=-s -w", "-o", bin, b.pkg)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
			if outp, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("go build %s for %s: %v\n%s", b.pkg, arch, err, outp)
			}
			fi, err := os.Stat(bin)
			if err != nil {
				return nil, err
			}
			*b.dst = fi.Size()
		}
		out = append(out, s)
	}
	return out, nil
}

// GoBench is one line of `go test -bench`.
type GoBench struct {
	Package     string  `json:"package"`
	Name        string  `json:"name"`
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  int64   `json:"bytes_per_op"`
	AllocsPerOp int64   `json:"allocs_per_op"`
}

var benchLineRE = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op(?:\s+[0-9.]+ MB/s)?\s+(\d+) B/op\s+(\d+) allocs/op`)

// goBenchmarks runs the Go benchmarks of the hot pure functions.
func goBenchmarks(pkgs []string) ([]GoBench, error) {
	root, err := localenv.ModuleRoot()
	if err != nil {
		return nil, err
	}
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1"}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, buf.String())
	}
	var out []GoBench
	pkg := ""
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = p
			continue
		}
		m := benchLineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ns, _ := strconv.ParseFloat(m[2], 64)
		b, _ := strconv.ParseInt(m[3], 10, 64)
		a, _ := strconv.ParseInt(m[4], 10, 64)
		out = append(out, GoBench{Package: pkg, Name: m[1], NsPerOp: ns, BytesPerOp: b, AllocsPerOp: a})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("go test -bench printed no benchmark line:\n%s", buf.String())
	}
	return out, nil
}
