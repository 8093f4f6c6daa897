//go:build integration

package main_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestSAMBuildHook runs the Makefile target `sam build` calls and checks that
// it writes a static linux/arm64 bootstrap, small enough for the size goal.
func TestSAMBuildHook(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "-C", "../..", "build-RefresherFunction", "ARTIFACTS_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build-RefresherFunction: %v\n%s", err, out)
	}
	path := filepath.Join(dir, "bootstrap")
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("bootstrap is not an ELF file: %v", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		t.Fatalf("bootstrap is %v/%v, want linux arm64", f.Machine, f.OSABI)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatal("bootstrap is dynamically linked; Lambda's provided.al2023 needs a static binary")
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&0o111 == 0 {
		t.Fatal("bootstrap is not executable")
	}
	t.Logf("bootstrap: %d bytes", st.Size())
}
