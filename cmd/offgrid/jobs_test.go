package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offgrid-net/offgrid/compute/computetest"
)

// offgrid job submit runs a real WASI module on the node and prints its
// output; job status, jobs and rep show it; bad input is refused.
func TestJobCommands(t *testing.T) {
	url, token := startNode(t, nodeOptions{})
	env := map[string]string{"OFFGRID_TOKEN": token, "OFFGRID_NODE": url}
	wc := computetest.Path(t, computetest.WordCount)
	input := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(input, []byte("one two three\nfour\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := mustCLI(t, env, "job", "submit", wc, "--input", input, "--timeout", "30s"); !strings.HasPrefix(out, "2 4 19\n") || !strings.Contains(out, "done (r=1)") {
		t.Fatalf("job submit output %q", out)
	}
	var js []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, env, "jobs", "--json")), &js); err != nil || len(js) != 1 || js[0].State != "done" {
		t.Fatalf("jobs: %+v %v", js, err)
	}
	var j struct {
		Candidates []struct{ Why string } `json:"candidates"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, env, "job", "status", js[0].ID, "--json")), &j); err != nil || len(j.Candidates) != 1 || !strings.Contains(j.Candidates[0].Why, "reliability") {
		t.Fatalf("job status: %+v %v", j, err)
	}
	if out := mustCLI(t, env, "rep"); !strings.Contains(out, "did:key:") {
		t.Fatalf("rep output %q", out)
	}
	for _, bad := range [][]string{
		{"job", "submit", input},                        // not WASM
		{"job", "submit", wc, "--r", "0"},               // r out of range
		{"job", "submit", wc, "--r", "2"},               // more hosts than known
		{"job", "status", "j-000000000000000000000000"}, // unknown
		{"rep", "merge", input},                         // not records
	} {
		if out, err := cli(t, env, bad...); err == nil {
			t.Errorf("offgrid %v succeeded (%s), want an error", bad, out)
		}
	}
}
