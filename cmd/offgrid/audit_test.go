package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestAuditFindsDeletedShards: shard blobs deleted from one host's disk.
// The host's HEAD answers 404/410 at once (not 200 from its database), the
// owner's next audit finds a lost shard without any get, counts it, and the
// repair it triggers restores every stripe to n live shards; the file reads
// back whole.
func TestAuditFindsDeletedShards(t *testing.T) {
	const (
		size   = 6
		victim = 3
	)
	m := startMesh(t, size, func(i int, o *nodeOptions) {
		if i == 0 {
			o.auditInterval = 300 * time.Millisecond
			o.repairInterval = time.Hour // the audit, not the clock, must find the loss
		}
	})
	m.waitPeers(0, size-1)
	src := randomFile(t, 1<<20)
	// Shards of two challenge spans: the audits that pass prove ranges at
	// random offsets, through the API.
	a := putFile(t, m.env(0), src, "--k", "3", "--n", "6", "--shard-size", "131072")
	if a.Hosts != size || a.MinLive != size {
		t.Fatalf("put = %+v, want every stripe on all %d hosts", a, size)
	}

	blobs, err := filepath.Glob(filepath.Join(m.nodes[victim].opts.dataDir, "shards", "blobs", "*", "*"))
	if err != nil || len(blobs) != a.Stripes {
		t.Fatalf("victim holds %d blobs (%v), want one per stripe (%d)", len(blobs), err, a.Stripes)
	}
	for _, b := range blobs {
		if err := os.Remove(b); err != nil {
			t.Fatal(err)
		}
	}
	// Every shard address of the asset on the victim: none may answer 200.
	gone := 0
	for stripe := range a.Stripes {
		for idx := range size {
			req, _ := http.NewRequest(http.MethodHead, fmt.Sprintf("%s/shards/%s.%d/%d", m.nodes[victim].url, a.AssetID, stripe, idx), nil)
			req.Header.Set("Authorization", "Bearer "+m.nodes[victim].token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusGone:
				gone++
			case http.StatusNotFound:
			default:
				t.Errorf("HEAD of shard %d/%d on the host whose blobs were deleted = %d, want 404 or 410", stripe, idx, resp.StatusCode)
			}
		}
	}
	// Each lost blob is reported at once: as 410 to the HEAD, or, when the
	// owner's audit asked about it first, as a failed audit (the host
	// quarantined it then, and answers 404 since).
	byAudit := metricOf(t, m.nodes[0].url, `offgrid_shard_audits_total{result="fail"}`)
	if gone+byAudit < a.Stripes {
		t.Errorf("%d HEADs answered 410 and %d audits failed, want one of them per stripe (%d): each lost blob is reported at once",
			gone, byAudit, a.Stripes)
	}

	deadline := time.Now().Add(60 * time.Second)
	var cur struct {
		assetJSON
		AuditsFailed int `json:"audits_failed"`
	}
	for {
		if err := json.Unmarshal([]byte(mustCLI(t, m.env(0), "assets", a.AssetID, "--json")), &cur); err != nil {
			t.Fatal(err)
		}
		failed := metricOf(t, m.nodes[0].url, `offgrid_shard_audits_total{result="fail"}`)
		if failed > 0 && cur.AuditsFailed > 0 && cur.MinLive == size && cur.State == "stored" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %d failed audits counted, asset %+v; want a failed audit (in the metric and the asset) and every stripe back to %d live",
				failed, cur, size)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Each round audits a few random shards, so the rounds up to the
	// repair may all have picked the victim's; the next rounds pick others.
	for deadline := time.Now().Add(30 * time.Second); metricOf(t, m.nodes[0].url, `offgrid_shard_audits_total{result="pass"}`) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no audit passed in 30 s: the hosts that kept their shards must pass")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// With every shard back, audits go on passing: the owner holds one
	// shard of six, so most of them are range proofs over HTTP.
	failed := metricOf(t, m.nodes[0].url, `offgrid_shard_audits_total{result="fail"}`)
	passed := metricOf(t, m.nodes[0].url, `offgrid_shard_audits_total{result="pass"}`)
	for deadline := time.Now().Add(30 * time.Second); metricOf(t, m.nodes[0].url, `offgrid_shard_audits_total{result="pass"}`) < passed+12; {
		if time.Now().After(deadline) {
			t.Fatal("fewer than 12 audits passed in 30 s after the repair")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if now := metricOf(t, m.nodes[0].url, `offgrid_shard_audits_total{result="fail"}`); now != failed {
		t.Errorf("%v audits failed after the repair restored every shard, want none", now-failed)
	}
	// The hosts answered: an audit without an answer (a transport that
	// cannot audit, a range the host refuses) marks nothing dead, but in a
	// healthy mesh it is a fault. A loaded machine may time out a rare one.
	errs := metricOf(t, m.nodes[0].url, `offgrid_shard_audits_total{result="error"}`)
	if passes := metricOf(t, m.nodes[0].url, `offgrid_shard_audits_total{result="pass"}`); errs*10 > passes {
		t.Errorf("%d audits got no answer against %d passed, want (almost) none", errs, passes)
	}
	got := filepath.Join(t.TempDir(), "got.bin")
	mustCLI(t, m.env(0), "get", a.AssetID, "-o", got, "--no-progress")
	sameBytes(t, src, got)
}
