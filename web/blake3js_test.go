package web

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/zeebo/blake3"
)

// blake3Driver loads assets/blake3.js as the browser does (a plain script
// that sets OffgridBlake3 on its global) and hashes, for each length in
// argv, the bytes i % 251 fed in pieces of each size in argv's "pieces":
// one line "length piece hex" per hash.
const blake3Driver = `
const vm = require('vm'), fs = require('fs');
const g = {};
vm.runInNewContext(fs.readFileSync(process.argv[2], 'utf8'), g);
const lengths = process.argv[3].split(',').map(Number);
const pieces = process.argv[4].split(',').map(Number);
for (const n of lengths) {
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = i % 251;
  for (const p of pieces) {
    const h = g.OffgridBlake3.create();
    for (let i = 0; i < n; i += p) h.update(data.subarray(i, Math.min(n, i + p)));
    if (n === 0) h.update(data);
    console.log(n + ' ' + p + ' ' + h.hex());
  }
}
`

// TestBlake3JS: the dashboard's BLAKE3 gives zeebo/blake3's digest for
// inputs on and around the block (64 B) and chunk (1 KiB) boundaries and
// several levels of the chunk tree, whichever pieces it is fed in.
func TestBlake3JS(t *testing.T) {
	t.Parallel()
	nodeJS, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the dashboard's BLAKE3 is not checked")
	}
	lengths := []int{0, 1, 63, 64, 65, 127, 128, 1023, 1024, 1025, 2047, 2048, 2049, 3072, 3073,
		4095, 4096, 4097, 5120, 6144, 7168, 8191, 8192, 8193, 16384, 31744, 65537, 1<<20 + 7}
	pieces := []int{1 << 30, 1, 63, 64, 1000, 1024, 4099}
	driver := filepath.Join(t.TempDir(), "driver.cjs")
	if err := os.WriteFile(driver, []byte(blake3Driver), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), nodeJS, driver, filepath.Join("assets", "blake3.js"), joinInts(lengths), joinInts(pieces))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v", driver, err)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(got) != len(lengths)*len(pieces) {
		t.Fatalf("node printed %d hashes, want %d:\n%s", len(got), len(lengths)*len(pieces), out)
	}
	i := 0
	for _, n := range lengths {
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(j % 251)
		}
		sum := blake3.Sum256(data)
		for _, p := range pieces {
			want := strconv.Itoa(n) + " " + strconv.Itoa(p) + " " + hex.EncodeToString(sum[:])
			if got[i] != want {
				t.Errorf("BLAKE3 of %d bytes in pieces of %d: JS %q, want %q", n, p, got[i], want)
			}
			i++
		}
	}
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
