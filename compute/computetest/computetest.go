package computetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Names of the test modules: well-behaved, then hostile.
const (
	WordCount = "wc"       // prints "lines words bytes" of its input
	Checksum  = "checksum" // prints the SHA-256 of its input in hex
	Upper     = "upper"    // copies its input in upper case
	Loop      = "loop"     // never ends
	MemBomb   = "membomb"  // allocates without bound
	Flood     = "flood"    // writes without end
	Trap      = "trap"     // dereferences a nil pointer
)

var mu sync.Mutex

func dirs() (src, out string) {
	_, file, _, _ := runtime.Caller(0)
	base := filepath.Join(filepath.Dir(file), "..", "testdata")
	return filepath.Join(base, "modules"), filepath.Join(base, "wasm")
}

// Path builds module name if needed and returns the path of its .wasm.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	p, err := Build(name)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Module returns the bytes of test module name, built if needed.
func Module(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(Path(tb, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Build compiles module name unless its .wasm is newer than its source. The
// .wasm is written beside and renamed, so that test binaries of several
// packages building at once never read half a file.
func Build(name string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	srcDir, outDir := dirs()
	src := filepath.Join(srcDir, name, "main.go")
	out := filepath.Join(outDir, name+".wasm")
	si, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("test module %s: %w", name, err)
	}
	if oi, err := os.Stat(out); err == nil && oi.ModTime().After(si.ModTime()) {
		return out, nil
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(outDir, name+".*.tmp")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command("go", "build", "-trimpath", "-o", tmp.Name(), ".")
	cmd.Dir = filepath.Join(srcDir, name)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build test module %s: %v: %s", name, err, msg)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", err
	}
	return out, nil
}

// Noop returns the smallest WASI command: a `_start` that returns at once
// and one page of exported memory (50 bytes, written by hand). It compiles
// in microseconds, so a test that needs any valid module (the API
// contract) stays fast under the race detector, where compiling a Go module
// takes tens of seconds.
func Noop() []byte {
	return []byte{
		0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
		0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // types: () -> ()
		0x03, 0x02, 0x01, 0x00, // functions: one of type 0
		0x05, 0x03, 0x01, 0x00, 0x01, // memory: one, at least 1 page
		0x07, 0x13, 0x02, // exports: two
		0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00, // "_start": function 0
		0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00, // "memory": memory 0
		0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // code: no locals, end
	}
}
