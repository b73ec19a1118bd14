package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offgrid-net/offgrid/compute/computetest"
	"github.com/offgrid-net/offgrid/node"
)

// jobDefaults gives a test node the jobs settings the node command's flags
// default to (a zero t_activate would make every dispatch late).
func jobDefaults(o *nodeOptions) {
	jd := node.DefaultConfig().Jobs
	o.jobConcurrency, o.jobActivate, o.jobStallAge = jd.Concurrency, jd.SLA.Activate, jd.SLA.StallAge
	o.jobCooldown, o.jobRetries = jd.SLA.Cooldown, jd.SLA.MaxRetries
}

// offgrid broker submits --jobs jobs at once through a node of a real
// mesh; with --hosts only those hosts are quoted and run them; a host list
// naming no known host is refused.
func TestBrokerCommand(t *testing.T) {
	m := startMesh(t, 3, func(_ int, o *nodeOptions) { jobDefaults(o) })
	m.waitPeers(0, 2)
	env := m.env(0)
	wc := computetest.Path(t, computetest.WordCount)
	input := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(input, []byte("one two three\nfour\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	hosts := m.nodes[1].url + "," + m.nodes[2].url + "/"
	out := mustCLI(t, env, "broker", "--hosts", hosts, "--jobs", "4", "--r", "2", "--module", wc, "--input", input, "--timeout", "30s")
	if !strings.Contains(out, "4 jobs: 4 done, 0 failed") || strings.Count(out, " done ") != 4 {
		t.Fatalf("broker output:\n%s", out)
	}
	var sum brokerSummary
	if err := json.Unmarshal([]byte(mustCLI(t, env, "broker", "--jobs", "2", "--module", wc, "--input", input, "--json")), &sum); err != nil ||
		sum.Done != 2 || sum.Failed != 0 || len(sum.Jobs) != 2 || sum.Jobs[0].OutputHash != sum.Jobs[1].OutputHash {
		t.Fatalf("broker --json: %+v %v", sum, err)
	}

	// The restricted jobs were quoted by the two named hosts only, never
	// by node 0 (a candidate of its own jobs otherwise).
	var js []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, env, "jobs", "--json")), &js); err != nil || len(js) != 6 {
		t.Fatalf("jobs: %+v %v", js, err)
	}
	// A job's candidates are its last quote round's; a busy host can make
	// a second, smaller round. Node 0 may only be among the candidates of
	// the two unrestricted jobs.
	self := m.nodeID(0)
	withSelf := 0
	for _, j := range js {
		var d struct {
			Candidates []struct {
				HostID string `json:"host_id"`
			} `json:"candidates"`
		}
		if err := json.Unmarshal([]byte(mustCLI(t, env, "job", "status", j.ID, "--json")), &d); err != nil {
			t.Fatal(err)
		}
		if len(d.Candidates) == 0 {
			t.Errorf("job %s has no candidates", j.ID)
		}
		for _, c := range d.Candidates {
			if c.HostID == self {
				withSelf++
			}
		}
	}
	if withSelf > 2 {
		t.Errorf("node 0 was a candidate of %d jobs, want at most the 2 without --hosts", withSelf)
	}

	for _, bad := range [][]string{
		{"broker", "--hosts", "http://127.0.0.1:1", "--module", wc},       // no such host
		{"broker", "--hosts", m.nodes[1].url, "--r", "2", "--module", wc}, // r above the named hosts
		{"broker", "--jobs", "0", "--module", wc},
		{"broker", "--jobs", "2"}, // no module
	} {
		if out, err := cli(t, env, bad...); err == nil {
			t.Errorf("offgrid %v succeeded (%s), want an error", bad, out)
		}
	}
}
