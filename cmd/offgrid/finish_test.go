package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"
)

// cliSplit runs the CLI and returns its standard output and standard
// error apart.
func cliSplit(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestCLIMessages: the host commands, the number arguments and the errors
// say what they mean in one sentence, against a real node.
func TestCLIMessages(t *testing.T) {
	url, token := startNode(t, nodeOptions{})
	env := map[string]string{"OFFGRID_TOKEN": token, "OFFGRID_NODE": url}

	if out := mustCLI(t, nil, "version"); !strings.HasPrefix(out, "offgrid ") || !strings.Contains(out, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) {
		t.Errorf("offgrid version = %q, want the version, Go version and platform", out)
	}
	tests := []struct {
		name string
		args []string
		// want is in the output (a whole line unless it ends in a
		// space), or the whole error when wantErr.
		want    string
		wantErr bool
	}{
		{"exponent is a number", []string{"quote", "storage", "1e3"}, "1000 storage: 100 credits (0.1 per unit) from ", false},
		{"decimal", []string{"quote", "compute", "0.25"}, "0.25 compute: 0.25 credits (1 per unit) from ", false},
		{"negative size", []string{"quote", "compute", "-1"}, "quote: -1 is negative; give a number of 0 or more", true},
		{"negative decimal", []string{"quote", "storage", "-2.5"}, "quote: -2.5 is negative; give a number of 0 or more", true},
		{"not a number", []string{"quote", "storage", "lots"}, `SIZE must be a number such as 2.5, not "lots"`, true},
		{"too large", []string{"quote", "storage", "2e6"}, "SIZE must be at most 1000000, not 2e6", true},
		{"unknown flag still named", []string{"quote", "--frobnicate"}, "quote: unknown flag: --frobnicate (see offgrid quote --help)", true},
		{"prices set", []string{"prices", "set", "compute=2.5", "storage=0.2"}, "prices now: compute 2.5 credits per million tokens, storage 0.2 credits per gigabyte-hour", false},
		{"prices shown", []string{"prices"}, "compute 2.5 credits per million tokens, storage 0.2 credits per gigabyte-hour", false},
		{"one price set", []string{"prices", "set", "storage=1e-1"}, "prices now: compute 2.5 credits per million tokens, storage 0.1 credits per gigabyte-hour", false},
		{"negative price", []string{"prices", "set", "compute=-1"}, "compute price must not be negative, not -1", true},
		{"unknown price", []string{"prices", "set", "gpu=1"}, `want compute=PRICE or storage=PRICE, not "gpu=1"`, true},
		{"price twice", []string{"prices", "set", "compute=1", "compute=2"}, "compute is given twice", true},
		{"announce", []string{"announce"}, "prices:    compute 2.5 credits per million tokens, storage 0.1 credits per gigabyte-hour", false},
		{"get of nothing", []string{"get", "abc"}, "no file with ID abc on this node; see `offgrid assets`", true},
		{"assets of nothing", []string{"assets", "abc"}, "no file with ID abc on this node; see `offgrid assets`", true},
		{"repair of nothing", []string{"repair", "abc"}, "no file with ID abc on this node; see `offgrid assets`", true},
		{"rm of nothing", []string{"rm", "abc"}, "no file with ID abc on this node; see `offgrid assets`", true},
		{"no assets", []string{"assets"}, "no assets yet; store one with `offgrid put FILE`", false},
		{"flag not a number", []string{"put", "FILE", "--k", "two"}, `--k takes a whole number, not "two"`, true},
		{"negative flag", []string{"put", "FILE", "--k", "-1", "--n", "3"}, "--k must be 1 or more, not -1", true},
		{"float flag not a number", []string{"run", "job-1", "--timeout", "soon"}, `run: invalid argument "soon" for "--timeout" flag: time: invalid duration "soon" (see offgrid run --help)`, true},
	}
	file := filepath.Join(t.TempDir(), "file.txt")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		args := slices.Clone(tt.args)
		if i := slices.Index(args, "FILE"); i >= 0 {
			args[i] = file
		}
		out, err := cli(t, env, args...)
		switch {
		case tt.wantErr && (err == nil || err.Error() != tt.want):
			t.Errorf("%s: offgrid %v = %v (%q), want the error %q", tt.name, tt.args, err, out, tt.want)
		case !tt.wantErr && err != nil:
			t.Errorf("%s: offgrid %v = %v", tt.name, tt.args, err)
		case !tt.wantErr && !strings.Contains(out, strings.TrimSuffix(tt.want+"\n", " \n")):
			t.Errorf("%s: offgrid %v printed %q, want the line %q", tt.name, tt.args, out, tt.want)
		}
	}
	// A node that is not there is named, with what to do.
	if _, err := cli(t, map[string]string{"OFFGRID_NODE": "http://127.0.0.1:1"}, "status"); err == nil ||
		!strings.HasPrefix(err.Error(), "no node answers at 127.0.0.1:1 (") || !strings.HasSuffix(err.Error(), "); start one with `offgrid node`, or pass --node") {
		t.Errorf("status against a closed port = %v, want it to say no node answers there", err)
	}
	// The price set is the price quoted.
	if out := mustCLI(t, env, "quote", "compute", "2"); !strings.Contains(out, "2 compute: 5 credits (2.5 per unit)") {
		t.Errorf("quote after prices set = %q, want 2.5 per unit", out)
	}
}

// TestCLIFiles: put says what it did (and that a put of stored content
// did nothing), assets is a table, get writes the stored name or standard
// output.
func TestCLIFiles(t *testing.T) {
	url, token := startNode(t, nodeOptions{})
	env := map[string]string{"OFFGRID_TOKEN": token, "OFFGRID_NODE": url}
	src := filepath.Join(t.TempDir(), "notes.txt")
	content := []byte("a small file, too small for a meaningful transfer rate\n")
	if err := os.WriteFile(src, content, 0o600); err != nil {
		t.Fatal(err)
	}

	id, msg, err := cliSplit(t, env, "put", src, "--no-progress")
	id = strings.TrimSpace(id)
	if err != nil || !regexp.MustCompile(`^stored notes.txt \(55 B\) as `+id+`: ec 1/1, 1 stripe on 1 host, survives 0 host losses, stored\n$`).MatchString(msg) {
		t.Fatalf("put = %v, %q (ID %q), want a report without a rate", err, msg, id)
	}
	for _, args := range [][]string{{}, {"--k", "1", "--n", "1"}} {
		again, msg, err := cliSplit(t, env, append([]string{"put", src, "--no-progress"}, args...)...)
		if want := "notes.txt is already stored as " + id + " (ec 1/1, stored, survives 0 host losses); nothing uploaded\n"; err != nil || strings.TrimSpace(again) != id || msg != want {
			t.Errorf("put %v again = %v, %q %q, want %q", args, err, again, msg, want)
		}
	}
	rep, msg, err := cliSplit(t, env, "put", src, "--no-progress", "--mode", "rep", "--r", "1")
	rep = strings.TrimSpace(rep)
	if err != nil || rep == id || !strings.Contains(msg, "as "+rep+": rep r=1,") ||
		!strings.Contains(msg, "a new asset: the same content is also stored as "+id+" (ec 1/1)\n") {
		t.Errorf("put --mode rep --r 1 = %v, %q %q, want a new asset that says the content is also stored as %s", err, rep, msg, id)
	}

	out := mustCLI(t, env, "assets")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	header := regexp.MustCompile(`^ID +NAME +SIZE +STORED AS +STATE +HOSTS +SURVIVES$`)
	if len(lines) != 3 || !header.MatchString(lines[0]) {
		t.Fatalf("offgrid assets =\n%s\nwant a header and 2 rows", out)
	}
	for _, col := range []string{"NAME", "SIZE", "STORED AS", "STATE", "SURVIVES"} {
		at := strings.Index(lines[0], col)
		for _, row := range lines[1:] {
			if at > len(row) || row[at-2:at] != "  " || row[at] == ' ' {
				t.Errorf("column %s does not start at %d in row %q", col, at, row)
			}
		}
	}
	for _, want := range []string{id + "  notes.txt  55 B  ec 1/1", rep + "  notes.txt  55 B  rep r=1", "0 host losses"} {
		if !strings.Contains(out, want) {
			t.Errorf("offgrid assets =\n%s\nwant %q", out, want)
		}
	}
	if out := mustCLI(t, env, "assets", "--bytes"); !strings.Contains(out, "notes.txt  55    ") {
		t.Errorf("offgrid assets --bytes =\n%s\nwant raw sizes", out)
	}
	if out := mustCLI(t, env, "assets", id); !strings.Contains(out, "stored as: ec 1/1, 1 stripe") || !strings.Contains(out, "stripe 0:  1 of 1 shards live (any 1 restore it)") {
		t.Errorf("offgrid assets %s =\n%s", id, out)
	}

	// get writes the stored name in the current directory, and will not
	// overwrite it unless told to.
	t.Chdir(t.TempDir())
	if out, err := cli(t, env, "get", id, "--no-progress"); err != nil || !regexp.MustCompile(`^wrote notes.txt \(55 B, blake3 [0-9a-f]{64}\)\n$`).MatchString(out) {
		t.Fatalf("get %s = %v, %q, want notes.txt written, with no rate", id, err, out)
	}
	if got, _ := os.ReadFile("notes.txt"); !bytes.Equal(got, content) {
		t.Errorf("notes.txt = %q, want %q", got, content)
	}
	if err := os.WriteFile("notes.txt", []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, env, "get", id); err == nil || err.Error() != "notes.txt exists already; pass --force to overwrite it, or -o to write elsewhere" {
		t.Errorf("get over an existing file = %v, want a refusal that names --force", err)
	}
	if got, _ := os.ReadFile("notes.txt"); string(got) != "mine" {
		t.Errorf("a refused get changed notes.txt to %q", got)
	}
	mustCLI(t, env, "get", id, "--force", "--no-progress")
	if got, _ := os.ReadFile("notes.txt"); !bytes.Equal(got, content) {
		t.Errorf("after get --force notes.txt = %q, want %q", got, content)
	}
	stdout, stderr, err := cliSplit(t, env, "get", rep, "-o", "-")
	if err != nil || stdout != string(content) || !strings.HasPrefix(stderr, "wrote - (55 B") {
		t.Errorf("get -o - = %v, stdout %q, stderr %q, want the bytes on standard output only", err, stdout, stderr)
	}
	if _, err := os.Stat("-"); err == nil {
		t.Error("get -o - wrote a file named -")
	}
	var js map[string]any
	stdout, _, err = cliSplit(t, env, "get", rep, "-o", "-", "--json")
	if err != nil || !strings.HasPrefix(stdout, string(content)) {
		t.Errorf("get -o - --json = %v, %q", err, stdout)
	}
	_, stderr, _ = cliSplit(t, env, "get", rep, "-o", "-", "--json")
	if json.Unmarshal([]byte(stderr), &js) != nil || js["size"] != float64(len(content)) {
		t.Errorf("get -o - --json reported %q on standard error, want JSON", stderr)
	}
}

func TestStoredName(t *testing.T) {
	tests := []struct{ name, want string }{
		{"notes.txt", "notes.txt"},
		{"dir/sub/notes.txt", "notes.txt"},
		{"../../etc/passwd", "passwd"},
		{`C:\Users\me\notes.txt`, "notes.txt"},
		{"", "a1"},
		{"..", "a1"},
		{"/", "a1"},
		{"-", "a1"},
	}
	for _, tt := range tests {
		if got := storedName(tt.name, "a1"); got != tt.want {
			t.Errorf("storedName(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRateText(t *testing.T) {
	tests := []struct {
		n    int64
		d    string
		want string
	}{
		{55, "1ms", ""},
		{10 << 20, "10ms", ""},
		{10 << 20, "1s", ", 10.5 MB/s"},
		{1 << 20, "100ms", ", 10.5 MB/s"},
	}
	for _, tt := range tests {
		d, _ := time.ParseDuration(tt.d)
		if got := rateText(tt.n, d); got != tt.want {
			t.Errorf("rateText(%d, %s) = %q, want %q", tt.n, tt.d, got, tt.want)
		}
	}
}

// TestDemoCommands: the demo's example commands run this binary as the
// shell would find it, with the node's token.
func TestDemoCommands(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ = filepath.EvalSymlinks(exe)
	nodes := []nodeStarted{{name: "node-1", url: "http://127.0.0.1:8081", token: "tok1"}}

	// Not on PATH: the binary's path, and how to put it there.
	t.Setenv("PATH", t.TempDir())
	var out bytes.Buffer
	printDemo(&out, nodes, "demo-data")
	try := regexp.MustCompile(`Try: +(\S+) status --node http://127.0.0.1:8081 --token tok1\n`).FindStringSubmatch(out.String())
	if try == nil || !strings.Contains(out.String(), "(or put "+filepath.Dir(try[1])+" on your PATH and run offgrid ...)") {
		t.Fatalf("demo output:\n%s\nwant a Try line with the token and a PATH hint", out.String())
	}
	if abs, err := filepath.Abs(try[1]); err != nil || abs != exe {
		t.Errorf("the Try command %s is not this binary (%s)", try[1], exe)
	}

	// On PATH as offgrid: just offgrid.
	bin := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(bin, "offgrid")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	out.Reset()
	printDemo(&out, nodes, "demo-data")
	if !strings.Contains(out.String(), "Try:       offgrid status --node http://127.0.0.1:8081 --token tok1\n") || strings.Contains(out.String(), "PATH") {
		t.Errorf("demo output with offgrid on PATH:\n%s", out.String())
	}
}

// TestAssetsByContent: GET /assets?file_hash= lists the files holding that
// content, in every coding, and no other file.
func TestAssetsByContent(t *testing.T) {
	url, token := startNode(t, nodeOptions{})
	env := map[string]string{"OFFGRID_TOKEN": token, "OFFGRID_NODE": url}
	dir := t.TempDir()
	put := func(name, content string, args ...string) string {
		t.Helper()
		src := filepath.Join(dir, name)
		if err := os.WriteFile(src, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		id, msg, err := cliSplit(t, env, append([]string{"put", src, "--no-progress"}, args...)...)
		if err != nil {
			t.Fatalf("put %s: %v, %s", name, err, msg)
		}
		return strings.TrimSpace(id)
	}
	ec := put("a.txt", "the same words")
	rep := put("b.txt", "the same words", "--mode", "rep", "--r", "1")
	other := put("c.txt", "other words")
	byContent := func(content string) []string {
		t.Helper()
		sum := blake3.Sum256([]byte(content))
		req, _ := http.NewRequest(http.MethodGet, url+"/assets?file_hash="+hex.EncodeToString(sum[:]), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var list struct {
			Assets []struct {
				AssetID string `json:"asset_id"`
			} `json:"assets"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /assets?file_hash= = %d, %v", resp.StatusCode, err)
		}
		var ids []string
		for _, a := range list.Assets {
			ids = append(ids, a.AssetID)
		}
		slices.Sort(ids)
		return ids
	}
	want := []string{ec, rep}
	slices.Sort(want)
	if got := byContent("the same words"); !slices.Equal(got, want) {
		t.Errorf("files with the shared content = %v, want %v", got, want)
	}
	if got := byContent("other words"); !slices.Equal(got, []string{other}) {
		t.Errorf("files with the other content = %v, want [%s]", got, other)
	}
	if got := byContent("never stored"); len(got) != 0 {
		t.Errorf("files with content never stored = %v, want none", got)
	}
}
