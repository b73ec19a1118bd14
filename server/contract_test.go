package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/go-cmp/cmp"

	"github.com/offgrid-net/offgrid/api/genserver"
	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/compute/computetest"
	"github.com/offgrid-net/offgrid/economy"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/server/servertest"
	"github.com/offgrid-net/offgrid/storage"
)

// authKind says how a contract case authenticates.
type authKind int

const (
	noAuth authKind = iota
	adminAuth
	signedAuth
	wrongToken
	// strangerAuth signs with a key that is not a member of the cluster.
	strangerAuth
)

// contractCase is one request against one operation of the spec.
type contractCase struct {
	op     string // operationId
	name   string
	method string
	path   string // with query
	header map[string]string
	body   []byte
	auth   authKind
	want   int
	// alone sends the request to a second node that has no cluster
	// document yet.
	alone bool
}

// loadSpec returns the embedded spec and a router over it that matches any
// host, as the API's own guard does. TestSpecIsValid validates the spec.
func loadSpec(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	spec, err := genserver.GetSpec()
	if err != nil {
		t.Fatalf("genserver.GetSpec: %v", err)
	}
	spec.Servers = nil
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		t.Fatalf("gorillamux.NewRouter: %v", err)
	}
	return spec, router
}

// TestSpecIsValid checks the embedded spec with kin-openapi's validator.
// An unquoted comma in a flow-mapping description (`{type: string,
// description: a, b}`) makes YAML read "b" as an extra schema key, which
// this catches.
func TestSpecIsValid(t *testing.T) {
	t.Parallel()
	spec, _ := loadSpec(t)
	if err := spec.Validate(context.Background()); err != nil {
		t.Errorf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
}

// specOperations returns operationId -> security scheme names for every
// operation in the spec.
func specOperations(spec *openapi3.T) map[string][]string {
	ops := map[string][]string{}
	for _, path := range spec.Paths.InMatchingOrder() {
		for _, op := range spec.Paths.Value(path).Operations() {
			reqs := spec.Security
			if op.Security != nil {
				reqs = *op.Security
			}
			var schemes []string
			for _, req := range reqs {
				for name := range req {
					schemes = append(schemes, name)
				}
			}
			slices.Sort(schemes)
			// The embedded spec carries oapi-codegen's Go names
			// ("GetHealth"); the table uses openapi.yaml's ("getHealth").
			id := strings.ToLower(op.OperationID[:1]) + op.OperationID[1:]
			ops[id] = schemes
		}
	}
	return ops
}

func contractCases() []contractCase {
	const (
		assetData = "a small file the contract test stores across the mesh"
		putAsset  = "contract-put"
		putData   = "raw shard bytes for the contract test"
	)
	storeBody := func(asset string, index int, data string) []byte {
		b, _ := json.Marshal(map[string]any{"asset_id": asset, "index": index, "data_b64": base64.StdEncoding.EncodeToString([]byte(data))})
		return b
	}
	octet := map[string]string{"Content-Type": "application/octet-stream"}
	withHash := map[string]string{"Content-Type": "application/octet-stream", "Offgrid-Shard-Hash": hashOf([]byte(putData))}
	// Any valid module does for the contract; the smallest keeps the job
	// cases fast under the race detector.
	wc := computetest.Noop()
	jobBody := append(slices.Clone(wc), "a b c"...)
	ms := fmt.Sprintf("module_size=%d", len(wc))
	quote := []byte(`{"module_hash":"` + strings.Repeat("a", 64) + `","module_size":1000,"input_size":10,"timeout_s":5}`)
	cases := []contractCase{
		{op: "quoteJob", name: "admin", method: "POST", path: "/jobs/quote", auth: adminAuth, body: quote, want: 200},
		{op: "quoteJob", name: "signed", method: "POST", path: "/jobs/quote", auth: signedAuth, body: quote, want: 200},
		{op: "quoteJob", name: "module size 0", method: "POST", path: "/jobs/quote", auth: adminAuth,
			body: []byte(`{"module_hash":"` + strings.Repeat("a", 64) + `","module_size":0,"input_size":10,"timeout_s":5}`), want: 400},
		{op: "quoteJob", name: "no auth", method: "POST", path: "/jobs/quote", body: quote, want: 401},
		{op: "execJob", name: "admin", method: "POST", path: "/exec/contract-exec?" + ms, auth: adminAuth, header: octet, body: jobBody, want: 202},
		{op: "execJob", name: "signed", method: "POST", path: "/exec/contract-exec?" + ms, auth: signedAuth, header: octet, body: jobBody, want: 202},
		{op: "execJob", name: "not wasm", method: "POST", path: "/exec/contract-bad?module_size=4", auth: adminAuth, header: octet, body: []byte("#!/bin/sh"), want: 400},
		{op: "execJob", name: "module size past the body", method: "POST", path: "/exec/contract-bad?module_size=99999999", auth: adminAuth, header: octet, body: jobBody, want: 400},
		{op: "execJob", name: "bad job id", method: "POST", path: "/exec/Bad_ID?" + ms, auth: adminAuth, header: octet, body: jobBody, want: 400},
		{op: "execStatus", name: "signed", method: "GET", path: "/exec/contract-exec", auth: signedAuth, want: 200},
		{op: "execStatus", name: "unknown", method: "GET", path: "/exec/contract-none", auth: adminAuth, want: 404},
		{op: "execOutput", name: "signed", method: "GET", path: "/exec/contract-exec/output", auth: signedAuth, want: 200},
		{op: "execOutput", name: "unknown", method: "GET", path: "/exec/contract-none/output", auth: adminAuth, want: 404},
		{op: "submitJob", name: "ok", method: "POST", path: "/jobs?r=1&" + ms, auth: adminAuth, header: octet, body: jobBody, want: 202},
		{op: "submitJob", name: "r above the hosts", method: "POST", path: "/jobs?r=2&" + ms, auth: adminAuth, header: octet, body: jobBody, want: 400},
		{op: "submitJob", name: "r out of range", method: "POST", path: "/jobs?r=8&" + ms, auth: adminAuth, header: octet, body: jobBody, want: 400},
		{op: "submitJob", name: "no auth", method: "POST", path: "/jobs?r=1&" + ms, header: octet, body: jobBody, want: 401},
		{op: "listJobs", name: "ok", method: "GET", path: "/jobs?limit=10", auth: adminAuth, want: 200},
		{op: "listJobs", name: "limit 0", method: "GET", path: "/jobs?limit=0", auth: adminAuth, want: 400},
		{op: "getJob", name: "ok", method: "GET", path: "/jobs/{job}", auth: adminAuth, want: 200},
		{op: "getJob", name: "unknown", method: "GET", path: "/jobs/j-000000000000000000000000", auth: adminAuth, want: 404},
		{op: "getJobOutput", name: "ok", method: "GET", path: "/jobs/{job}/output", auth: adminAuth, want: 200},
		{op: "getJobOutput", name: "unknown", method: "GET", path: "/jobs/j-000000000000000000000000/output", auth: adminAuth, want: 404},
		{op: "getReputation", name: "admin", method: "GET", path: "/gossip/rep", auth: adminAuth, want: 200},
		{op: "getReputation", name: "signed", method: "GET", path: "/gossip/rep", auth: signedAuth, want: 200},
		{op: "getReputation", name: "no auth", method: "GET", path: "/gossip/rep", want: 401},
		{op: "mergeReputation", name: "empty", method: "POST", path: "/gossip/merge_rep", auth: adminAuth, body: []byte(`[]`), want: 200},
		{op: "mergeReputation", name: "not a record", method: "POST", path: "/gossip/merge_rep", auth: adminAuth, body: []byte(`[{"hits":1}]`), want: 400},
		{op: "listReputation", name: "ok", method: "GET", path: "/rep", auth: adminAuth, want: 200},
		{op: "listReputation", name: "no auth", method: "GET", path: "/rep", want: 401},
	}
	return append(cases, []contractCase{
		{op: "getHealth", name: "ok", method: "GET", path: "/healthz", want: 200},
		{op: "getHealth", name: "wrong method", method: "DELETE", path: "/healthz", want: 405},

		{op: "getAnnounce", name: "ok", method: "GET", path: "/announce", want: 200},
		{op: "getAnnounce", name: "wrong method", method: "PUT", path: "/announce", want: 405},

		{op: "updateAnnounce", name: "ok", method: "POST", path: "/announce", auth: adminAuth,
			body: []byte(`{"prices":{"compute":"2.5","storage":"0.125"},"min_oncall_percent":10,"burst_percent_max":90}`), want: 200},
		{op: "updateAnnounce", name: "empty update", method: "POST", path: "/announce", auth: adminAuth, body: []byte(`{}`), want: 200},
		{op: "updateAnnounce", name: "no auth", method: "POST", path: "/announce", body: []byte(`{}`), want: 401},
		{op: "updateAnnounce", name: "wrong token", method: "POST", path: "/announce", auth: wrongToken, body: []byte(`{}`), want: 401},
		{op: "updateAnnounce", name: "price not a decimal", method: "POST", path: "/announce", auth: adminAuth,
			body: []byte(`{"prices":{"compute":-1}}`), want: 400},
		{op: "updateAnnounce", name: "price above the largest", method: "POST", path: "/announce", auth: adminAuth,
			body: []byte(`{"prices":{"storage":"1000001"}}`), want: 400},
		{op: "updateAnnounce", name: "unknown field", method: "POST", path: "/announce", auth: adminAuth,
			body: []byte(`{"colour":"red"}`), want: 400},
		{op: "updateAnnounce", name: "min above burst", method: "POST", path: "/announce", auth: adminAuth,
			body: []byte(`{"min_oncall_percent":95}`), want: 400},

		{op: "toggle", name: "ok", method: "POST", path: "/toggle", auth: adminAuth, body: []byte(`{"active":true}`), want: 200},
		{op: "toggle", name: "no auth", method: "POST", path: "/toggle", body: []byte(`{"active":false}`), want: 401},
		{op: "toggle", name: "wrong type", method: "POST", path: "/toggle", auth: adminAuth, body: []byte(`{"active":"no"}`), want: 400},
		{op: "toggle", name: "missing field", method: "POST", path: "/toggle", auth: adminAuth, body: []byte(`{}`), want: 400},

		{op: "getQuote", name: "compute", method: "GET", path: "/quote?type=compute&size=2.5", want: 200},
		{op: "getQuote", name: "storage", method: "GET", path: "/quote?type=storage&size=0.000001", want: 200},
		{op: "getQuote", name: "negative size", method: "GET", path: "/quote?type=compute&size=-1", want: 400},
		{op: "getQuote", name: "unknown type", method: "GET", path: "/quote?type=gold&size=1", want: 400},
		{op: "getQuote", name: "missing size", method: "GET", path: "/quote?type=compute", want: 400},
		{op: "getQuote", name: "largest size", method: "GET", path: "/quote?type=storage&size=1000000", want: 200},
		{op: "getQuote", name: "size above the largest", method: "GET", path: "/quote?type=storage&size=1000000.000001", want: 400},

		{op: "runJob", name: "admin", method: "POST", path: "/run", auth: adminAuth,
			body: []byte(`{"job_id":"contract-job-1","metrics":{"compute_tokens_m":1.5}}`), want: 200},
		{op: "runJob", name: "signed", method: "POST", path: "/run", auth: signedAuth,
			body: []byte(`{"job_id":"contract-job-2"}`), want: 200},
		{op: "runJob", name: "no auth", method: "POST", path: "/run", body: []byte(`{"job_id":"x"}`), want: 401},
		{op: "runJob", name: "signed by a stranger", method: "POST", path: "/run", auth: strangerAuth,
			body: []byte(`{"job_id":"x"}`), want: 403},
		{op: "runJob", name: "bad job id", method: "POST", path: "/run", auth: adminAuth, body: []byte(`{"job_id":"a b"}`), want: 400},
		{op: "runJob", name: "metric above the largest", method: "POST", path: "/run", auth: adminAuth,
			body: []byte(`{"job_id":"x","metrics":{"compute_tokens_m":1e13}}`), want: 400},
		{op: "runJob", name: "metric not a number", method: "POST", path: "/run", auth: adminAuth,
			body: []byte(`{"job_id":"x","metrics":{"compute_tokens_m":"many"}}`), want: 400},

		{op: "acceptReceipt", name: "by the consumer", method: "POST", path: "/receipts/accept", auth: signedAuth,
			body: []byte(`{accepted}`), want: 204},
		{op: "acceptReceipt", name: "again", method: "POST", path: "/receipts/accept", auth: signedAuth,
			body: []byte(`{accepted}`), want: 204},
		{op: "acceptReceipt", name: "by the admin", method: "POST", path: "/receipts/accept", auth: adminAuth,
			body: []byte(`{accepted}`), want: 401},
		{op: "acceptReceipt", name: "not signed", method: "POST", path: "/receipts/accept", body: []byte(`{accepted}`), want: 401},
		{op: "acceptReceipt", name: "not a receipt of this node", method: "POST", path: "/receipts/accept", auth: signedAuth,
			body: []byte(`{bill}`), want: 400},
		{op: "acceptReceipt", name: "unknown version", method: "POST", path: "/receipts/accept", auth: signedAuth,
			body: []byte(`{"version":"0.3"}`), want: 400},
		{op: "getOwed", name: "nothing owed", method: "GET", path: "/receipts/owed", want: 200},
		{op: "getOwed", name: "limit too large", method: "GET", path: "/receipts/owed?limit=1001", want: 400},
		{op: "settle", name: "nothing owed", method: "POST", path: "/settle", auth: adminAuth, body: []byte(`{}`), want: 200},
		{op: "settle", name: "no auth", method: "POST", path: "/settle", body: []byte(`{}`), want: 401},
		{op: "settle", name: "limit too large", method: "POST", path: "/settle", auth: adminAuth, body: []byte(`{"limit":1001}`), want: 400},
		{op: "billReceipts", name: "by the host", method: "POST", path: "/receipts/bill", auth: signedAuth,
			body: []byte(`{bill}`), want: 200},
		{op: "billReceipts", name: "empty", method: "POST", path: "/receipts/bill", auth: signedAuth,
			body: []byte(`{"receipts":[]}`), want: 400},
		{op: "billReceipts", name: "by a stranger", method: "POST", path: "/receipts/bill", auth: strangerAuth,
			body: []byte(`{bill}`), want: 403},
		{op: "storageReceipt", name: "by the owner of shards here", method: "POST", path: "/receipts/storage", auth: signedAuth,
			body: []byte(`{"window_start":{lastminute},"window_seconds":60,"bytes":1048576}`), want: 200},
		{op: "storageReceipt", name: "the same window again", method: "POST", path: "/receipts/storage", auth: signedAuth,
			body: []byte(`{"window_start":{lastminute},"window_seconds":60,"bytes":1}`), want: 200},
		{op: "storageReceipt", name: "a window not over", method: "POST", path: "/receipts/storage", auth: signedAuth,
			body: []byte(`{"window_start":253402300740,"window_seconds":60,"bytes":1}`), want: 409},
		{op: "storageReceipt", name: "not aligned", method: "POST", path: "/receipts/storage", auth: signedAuth,
			body: []byte(`{"window_start":61,"window_seconds":60,"bytes":1}`), want: 400},
		{op: "storageReceipt", name: "no bytes", method: "POST", path: "/receipts/storage", auth: signedAuth,
			body: []byte(`{"window_start":{lastminute},"window_seconds":60,"bytes":0}`), want: 400},
		{op: "storageReceipt", name: "by the admin", method: "POST", path: "/receipts/storage", auth: adminAuth,
			body: []byte(`{"window_start":{lastminute},"window_seconds":60,"bytes":1}`), want: 401},
		{op: "storageReceipt", name: "by a stranger", method: "POST", path: "/receipts/storage", auth: strangerAuth,
			body: []byte(`{"window_start":{lastminute},"window_seconds":60,"bytes":1}`), want: 403},
		{op: "getOwed", name: "billed", method: "GET", path: "/receipts/owed?limit=5", want: 200},
		{op: "settle", name: "owed, but no economy", method: "POST", path: "/settle", auth: adminAuth, body: []byte(`{"limit":10}`), want: 409},

		{op: "exportReceipts", name: "all", method: "GET", path: "/receipts/export", want: 200},
		{op: "exportReceipts", name: "window", method: "GET", path: "/receipts/export?since_seq=1&limit=1", want: 200},
		{op: "exportReceipts", name: "past the end", method: "GET", path: "/receipts/export?since_seq=1000", want: 200},
		{op: "exportReceipts", name: "limit zero", method: "GET", path: "/receipts/export?limit=0", want: 400},
		{op: "exportReceipts", name: "negative since", method: "GET", path: "/receipts/export?since_seq=-1", want: 400},
		{op: "exportReceipts", name: "since beyond int64", method: "GET", path: "/receipts/export?since_seq=9223372036854775808", want: 400},
		{op: "exportReceipts", name: "limit not a number", method: "GET", path: "/receipts/export?limit=ten", want: 400},

		{op: "getPubkeys", name: "ok", method: "GET", path: "/pubkeys", want: 200},
		{op: "getPubkeys", name: "wrong method", method: "POST", path: "/pubkeys", want: 405},

		{op: "getMesh", name: "ok", method: "GET", path: "/mesh", want: 200},
		{op: "getMesh", name: "wrong method", method: "POST", path: "/mesh", want: 405},

		{op: "getPeers", name: "ok", method: "GET", path: "/peers", want: 200},
		{op: "getPeers", name: "wrong method", method: "POST", path: "/peers", want: 405},

		{op: "storeShard", name: "admin", method: "POST", path: "/store", auth: adminAuth,
			body: storeBody("contract-store", 1, "hello shard"), want: 201},
		{op: "storeShard", name: "signed", method: "POST", path: "/store", auth: signedAuth,
			body: storeBody("contract-store", 2, "signed shard"), want: 201},
		{op: "storeShard", name: "again, same content", method: "POST", path: "/store", auth: adminAuth,
			body: storeBody("contract-store", 1, "hello shard"), want: 201},
		{op: "storeShard", name: "other content, same address", method: "POST", path: "/store", auth: adminAuth,
			body: storeBody("contract-store", 1, "other"), want: 409},
		{op: "storeShard", name: "no auth", method: "POST", path: "/store", body: storeBody("contract-store", 3, "x"), want: 401},
		{op: "storeShard", name: "index out of range", method: "POST", path: "/store", auth: adminAuth,
			body: storeBody("contract-store", 256, "x"), want: 400},
		{op: "storeShard", name: "not base64", method: "POST", path: "/store", auth: adminAuth,
			body: []byte(`{"asset_id":"a","index":0,"data_b64":"!!!"}`), want: 400},

		{op: "fetchShard", name: "admin", method: "GET", path: "/fetch?asset_id=contract-store&index=1", auth: adminAuth, want: 200},
		{op: "fetchShard", name: "signed", method: "GET", path: "/fetch?asset_id=contract-store&index=2", auth: signedAuth, want: 200},
		{op: "fetchShard", name: "not stored", method: "GET", path: "/fetch?asset_id=contract-store&index=9", auth: adminAuth, want: 404},
		{op: "fetchShard", name: "missing index", method: "GET", path: "/fetch?asset_id=contract-store", auth: adminAuth, want: 400},
		{op: "fetchShard", name: "no auth", method: "GET", path: "/fetch?asset_id=contract-store&index=1", want: 401},

		{op: "putShard", name: "admin", method: "PUT", path: "/shards/" + putAsset + "/0", auth: adminAuth,
			header: withHash, body: []byte(putData), want: 201},
		{op: "putShard", name: "signed", method: "PUT", path: "/shards/" + putAsset + "/1", auth: signedAuth,
			header: octet, body: []byte(putData), want: 201},
		{op: "putShard", name: "bad hash header", method: "PUT", path: "/shards/" + putAsset + "/2", auth: adminAuth,
			header: map[string]string{"Content-Type": "application/octet-stream", "Offgrid-Shard-Hash": "XYZ"}, body: []byte(putData), want: 400},
		{op: "putShard", name: "index out of range", method: "PUT", path: "/shards/" + putAsset + "/300", auth: adminAuth,
			header: octet, body: []byte(putData), want: 400},
		{op: "putShard", name: "no auth", method: "PUT", path: "/shards/" + putAsset + "/3", header: octet, body: []byte(putData), want: 401},

		{op: "getShard", name: "admin", method: "GET", path: "/shards/" + putAsset + "/0", auth: adminAuth, want: 200},
		{op: "getShard", name: "signed", method: "GET", path: "/shards/" + putAsset + "/1", auth: signedAuth, want: 200},
		{op: "getShard", name: "not stored", method: "GET", path: "/shards/" + putAsset + "/7", auth: adminAuth, want: 404},
		{op: "getShard", name: "bad asset id", method: "GET", path: "/shards/bad%20id/0", auth: adminAuth, want: 400},
		{op: "getShard", name: "index not a number", method: "GET", path: "/shards/" + putAsset + "/x", auth: adminAuth, want: 400},
		{op: "getShard", name: "no auth", method: "GET", path: "/shards/" + putAsset + "/0", want: 401},

		{op: "statShard", name: "admin", method: "HEAD", path: "/shards/" + putAsset + "/0", auth: adminAuth, want: 200},
		{op: "statShard", name: "signed", method: "HEAD", path: "/shards/" + putAsset + "/1", auth: signedAuth, want: 200},
		{op: "statShard", name: "not stored", method: "HEAD", path: "/shards/" + putAsset + "/9", auth: adminAuth, want: 404},
		{op: "statShard", name: "no auth", method: "HEAD", path: "/shards/" + putAsset + "/0", want: 401},

		{op: "auditShard", name: "admin", method: "POST", path: "/shards/" + putAsset + "/0/audit", auth: adminAuth,
			body: []byte(`{"nonce":"` + strings.Repeat("ab", 32) + `"}`), want: 200},
		{op: "auditShard", name: "signed", method: "POST", path: "/shards/" + putAsset + "/1/audit", auth: signedAuth,
			body: []byte(`{"nonce":"` + strings.Repeat("cd", 32) + `"}`), want: 200},
		{op: "auditShard", name: "not stored", method: "POST", path: "/shards/" + putAsset + "/9/audit", auth: adminAuth,
			body: []byte(`{"nonce":"` + strings.Repeat("ab", 32) + `"}`), want: 404},
		{op: "auditShard", name: "short nonce", method: "POST", path: "/shards/" + putAsset + "/0/audit", auth: adminAuth,
			body: []byte(`{"nonce":"abcd"}`), want: 400},
		{op: "auditShard", name: "upper-case nonce", method: "POST", path: "/shards/" + putAsset + "/0/audit", auth: adminAuth,
			body: []byte(`{"nonce":"` + strings.Repeat("AB", 32) + `"}`), want: 400},
		{op: "auditShard", name: "range", method: "POST", path: "/shards/" + putAsset + "/0/audit", auth: adminAuth,
			body: []byte(`{"nonce":"` + strings.Repeat("ab", 32) + `","offset":1,"length":2}`), want: 200},
		{op: "auditShard", name: "range beyond the shard", method: "POST", path: "/shards/" + putAsset + "/0/audit", auth: adminAuth,
			body: []byte(`{"nonce":"` + strings.Repeat("ab", 32) + `","offset":1,"length":` + fmt.Sprint(len(putData)) + `}`), want: 400},
		{op: "auditShard", name: "offset without length", method: "POST", path: "/shards/" + putAsset + "/0/audit", auth: adminAuth,
			body: []byte(`{"nonce":"` + strings.Repeat("ab", 32) + `","offset":1}`), want: 400},
		{op: "auditShard", name: "negative offset", method: "POST", path: "/shards/" + putAsset + "/0/audit", auth: adminAuth,
			body: []byte(`{"nonce":"` + strings.Repeat("ab", 32) + `","offset":-1,"length":1}`), want: 400},
		{op: "auditShard", name: "length over the limit", method: "POST", path: "/shards/" + putAsset + "/0/audit", auth: adminAuth,
			body: []byte(`{"nonce":"` + strings.Repeat("ab", 32) + `","length":16777217}`), want: 400},
		{op: "auditShard", name: "unknown field", method: "POST", path: "/shards/" + putAsset + "/0/audit", auth: adminAuth,
			body: []byte(`{"nonce":"` + strings.Repeat("ab", 32) + `","range":1}`), want: 400},
		{op: "auditShard", name: "no auth", method: "POST", path: "/shards/" + putAsset + "/0/audit",
			body: []byte(`{"nonce":"` + strings.Repeat("ab", 32) + `"}`), want: 401},

		{op: "claimShards", name: "signed", method: "POST", path: "/shards/claims", auth: signedAuth,
			body: []byte(`{"shards":[{"asset_id":"contract-store","index":2},{"asset_id":"contract-store","index":1}]}`), want: 200},
		{op: "claimShards", name: "admin", method: "POST", path: "/shards/claims", auth: adminAuth,
			body: []byte(`{"shards":[{"asset_id":"contract-store","index":1}]}`), want: 200},
		{op: "claimShards", name: "too many", method: "POST", path: "/shards/claims", auth: adminAuth,
			body: []byte(`{"shards":[` + strings.Repeat(`{"asset_id":"a","index":0},`, 1024) + `{"asset_id":"a","index":0}]}`), want: 400},
		{op: "claimShards", name: "bad asset id", method: "POST", path: "/shards/claims", auth: adminAuth,
			body: []byte(`{"shards":[{"asset_id":"..","index":0}]}`), want: 400},
		{op: "claimShards", name: "no auth", method: "POST", path: "/shards/claims", body: []byte(`{"shards":[]}`), want: 401},

		{op: "deleteShard", name: "signed, another node's shard", method: "DELETE", path: "/shards/" + putAsset + "/0", auth: signedAuth, want: 403},
		{op: "deleteShard", name: "signed, its own", method: "DELETE", path: "/shards/" + putAsset + "/1", auth: signedAuth, want: 204},
		{op: "deleteShard", name: "admin", method: "DELETE", path: "/shards/" + putAsset + "/0", auth: adminAuth, want: 204},
		{op: "deleteShard", name: "not stored", method: "DELETE", path: "/shards/" + putAsset + "/0", auth: adminAuth, want: 404},
		{op: "deleteShard", name: "no auth", method: "DELETE", path: "/shards/" + putAsset + "/1", want: 401},

		// {asset} is replaced by the ID the successful putAsset case returns.
		{op: "putAsset", name: "ok", method: "POST", path: "/assets?name=contract.txt", auth: adminAuth,
			header: map[string]string{"Content-Type": "application/octet-stream", "Offgrid-Content-Hash": hashOf([]byte(assetData))},
			body:   []byte(assetData), want: 201},
		{op: "putAsset", name: "stored already", method: "POST", path: "/assets?name=contract.txt", auth: adminAuth,
			header: map[string]string{"Content-Type": "application/octet-stream", "Offgrid-Content-Hash": hashOf([]byte(assetData))},
			body:   []byte(assetData), want: 200},
		{op: "putAsset", name: "k above n", method: "POST", path: "/assets?k=5&n=3", auth: adminAuth, header: octet,
			body: []byte(assetData), want: 400},
		{op: "putAsset", name: "mode unknown", method: "POST", path: "/assets?mode=raid", auth: adminAuth, header: octet,
			body: []byte(assetData), want: 400},
		{op: "putAsset", name: "name too long", method: "POST", path: "/assets?name=" + strings.Repeat("n", 256), auth: adminAuth,
			header: octet, body: []byte(assetData), want: 400},
		{op: "putAsset", name: "17 recipients", method: "POST", path: "/assets?recipients=" + strings.Repeat(strings.Repeat("ab", 32)+",", 16) + strings.Repeat("ab", 32),
			auth: adminAuth, header: octet, body: []byte(assetData), want: 400},
		{op: "putAsset", name: "no auth", method: "POST", path: "/assets", header: octet, body: []byte(assetData), want: 401},
		{op: "listAssets", name: "ok", method: "GET", path: "/assets", auth: adminAuth, want: 200},
		{op: "listAssets", name: "no auth", method: "GET", path: "/assets", want: 401},
		{op: "listAssets", name: "by content", method: "GET", path: "/assets?file_hash=" + strings.Repeat("ab", 32), auth: adminAuth, want: 200},
		{op: "listAssets", name: "bad content hash", method: "GET", path: "/assets?file_hash=ABC", auth: adminAuth, want: 400},
		{op: "getAsset", name: "ok", method: "GET", path: "/assets/{asset}", auth: adminAuth, want: 200},
		{op: "getAsset", name: "unknown", method: "GET", path: "/assets/a00000000000000000000000000000000", auth: adminAuth, want: 404},
		{op: "getAsset", name: "bad id", method: "GET", path: "/assets/bad%20id", auth: adminAuth, want: 400},
		{op: "getAssetContent", name: "ok", method: "GET", path: "/assets/{asset}/content", auth: adminAuth, want: 200},
		{op: "getAssetContent", name: "unknown", method: "GET", path: "/assets/a00000000000000000000000000000000/content", auth: adminAuth, want: 404},
		{op: "getAssetContent", name: "no auth", method: "GET", path: "/assets/{asset}/content", want: 401},
		{op: "repairAsset", name: "ok", method: "POST", path: "/assets/{asset}/repair", auth: adminAuth, want: 200},
		{op: "repairAsset", name: "unknown", method: "POST", path: "/assets/a00000000000000000000000000000000/repair", auth: adminAuth, want: 404},
		{op: "shareAsset", name: "ok", method: "POST", path: "/assets/{asset}/share", auth: adminAuth, body: []byte(`{share-request}`), want: 200},
		{op: "shareAsset", name: "unknown", method: "POST", path: "/assets/a00000000000000000000000000000000/share", auth: adminAuth,
			body: []byte(`{share-request}`), want: 404},
		{op: "shareAsset", name: "bad box key", method: "POST", path: "/assets/{asset}/share", auth: adminAuth,
			body: []byte(`{"to":"did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH","box_key":"xyz"}`), want: 400},
		{op: "shareAsset", name: "no auth", method: "POST", path: "/assets/{asset}/share", body: []byte(`{share-request}`), want: 401},
		{op: "importAsset", name: "ok", method: "POST", path: "/assets/import", auth: adminAuth, body: []byte(`{share-for-node}`), want: 201},
		{op: "importAsset", name: "again", method: "POST", path: "/assets/import", auth: adminAuth, body: []byte(`{share-for-node}`), want: 409},
		{op: "importAsset", name: "for another node", method: "POST", path: "/assets/import", auth: adminAuth, body: []byte(`{share-for-other}`), want: 403},
		{op: "importAsset", name: "bad signature", method: "POST", path: "/assets/import", auth: adminAuth, body: []byte(`{share-bad-sig}`), want: 401},
		{op: "importAsset", name: "not a manifest", method: "POST", path: "/assets/import", auth: adminAuth, body: []byte(`{"version":1}`), want: 400},
		{op: "importAsset", name: "no auth", method: "POST", path: "/assets/import", body: []byte(`{share-for-node}`), want: 401},
		{op: "deleteAsset", name: "no auth", method: "DELETE", path: "/assets/{asset}", want: 401},
		{op: "deleteAsset", name: "ok", method: "DELETE", path: "/assets/{asset}", auth: adminAuth, want: 200},
		{op: "deleteAsset", name: "gone", method: "DELETE", path: "/assets/{asset}", auth: adminAuth, want: 404},
		{op: "deleteAsset", name: "bad id", method: "DELETE", path: "/assets/bad%20id", auth: adminAuth, want: 400},

		// {next} is the next cluster version, signed by the test's admin,
		// naming the node an admin too; {proposal} a later version no one
		// signed yet.
		{op: "getCluster", name: "ok", method: "GET", path: "/cluster", want: 200},
		{op: "getCluster", name: "wrong method", method: "PUT", path: "/cluster", want: 405},
		{op: "joinCluster", name: "successor", method: "POST", path: "/cluster/join", auth: adminAuth,
			body: []byte(`{"document":"{next}"}`), want: 200},
		{op: "joinCluster", name: "same version again", method: "POST", path: "/cluster/join", auth: adminAuth,
			body: []byte(`{"document":"{next}"}`), want: 200},
		{op: "joinCluster", name: "not a document", method: "POST", path: "/cluster/join", auth: adminAuth,
			body: []byte(`{"document":"AAAA"}`), want: 400},
		{op: "joinCluster", name: "not base64", method: "POST", path: "/cluster/join", auth: adminAuth,
			body: []byte(`{"document":"!!"}`), want: 400},
		{op: "joinCluster", name: "no auth", method: "POST", path: "/cluster/join", body: []byte(`{"document":"AAAA"}`), want: 401},
		// The economy: {next} made the node the sole witness, with credits
		// for itself and for the signing peer ({peer}); {tx} is the last
		// transfer made here, {cert} the last certificate, {peertx} a
		// transfer the peer signed.
		{op: "getBalances", name: "ok", method: "GET", path: "/balances", want: 200},
		{op: "getBalances", name: "no economy", method: "GET", path: "/balances", alone: true, want: 409},
		{op: "getGossipBalances", name: "ok", method: "GET", path: "/gossip/balances", want: 200},
		{op: "getGossipBalances", name: "no economy", method: "GET", path: "/gossip/balances", alone: true, want: 409},
		{op: "postTransfer", name: "final", method: "POST", path: "/transfers", auth: adminAuth,
			body: []byte(`{"dst":"{peer}","amount":"1.5","memo":"contract"}`), want: 201},
		{op: "postTransfer", name: "to system", method: "POST", path: "/transfers", auth: adminAuth,
			body: []byte(`{"dst":"system","amount":"0.000001"}`), want: 201},
		{op: "postTransfer", name: "more than the balance", method: "POST", path: "/transfers", auth: adminAuth,
			body: []byte(`{"dst":"{peer}","amount":"1000000"}`), want: 409},
		{op: "postTransfer", name: "zero", method: "POST", path: "/transfers", auth: adminAuth,
			body: []byte(`{"dst":"{peer}","amount":"0"}`), want: 400},
		{op: "postTransfer", name: "negative", method: "POST", path: "/transfers", auth: adminAuth,
			body: []byte(`{"dst":"{peer}","amount":"-1"}`), want: 400},
		{op: "postTransfer", name: "seven decimals", method: "POST", path: "/transfers", auth: adminAuth,
			body: []byte(`{"dst":"{peer}","amount":"0.0000001"}`), want: 400},
		{op: "postTransfer", name: "bad destination", method: "POST", path: "/transfers", auth: adminAuth,
			body: []byte(`{"dst":"bank","amount":"1"}`), want: 400},
		{op: "postTransfer", name: "memo too long", method: "POST", path: "/transfers", auth: adminAuth,
			body: []byte(`{"dst":"{peer}","amount":"1","memo":"` + strings.Repeat("m", 257) + `"}`), want: 400},
		{op: "postTransfer", name: "unknown field", method: "POST", path: "/transfers", auth: adminAuth,
			body: []byte(`{"dst":"{peer}","amount":"1","nonce":7}`), want: 400},
		{op: "postTransfer", name: "no auth", method: "POST", path: "/transfers", body: []byte(`{"dst":"{peer}","amount":"1"}`), want: 401},
		{op: "getTx", name: "final", method: "GET", path: "/tx/{tx}", want: 200},
		{op: "getTx", name: "unknown", method: "GET", path: "/tx/" + strings.Repeat("0", 64), want: 404},
		{op: "getTx", name: "bad id", method: "GET", path: "/tx/xyz", want: 400},
		{op: "getCertificates", name: "ok", method: "GET", path: "/gossip/certificates?after=0&limit=2", want: 200},
		{op: "getCertificates", name: "limit zero", method: "GET", path: "/gossip/certificates?limit=0", want: 400},
		{op: "getCertificates", name: "negative after", method: "GET", path: "/gossip/certificates?after=-1", want: 400},
		{op: "mergeBalances", name: "signed, known certificate", method: "POST", path: "/gossip/merge_balances", auth: signedAuth,
			body: []byte(`{"certificates":["{cert}"]}`), want: 200},
		{op: "mergeBalances", name: "a balance snapshot", method: "POST", path: "/gossip/merge_balances", auth: adminAuth,
			body: []byte(`{"balances":{"system":"1000"}}`), want: 400},
		{op: "mergeBalances", name: "not a certificate", method: "POST", path: "/gossip/merge_balances", auth: adminAuth,
			body: []byte(`{"certificates":["AAAA"]}`), want: 400},
		{op: "mergeBalances", name: "nothing", method: "POST", path: "/gossip/merge_balances", auth: adminAuth, body: []byte(`{}`), want: 400},
		{op: "mergeBalances", name: "stranger", method: "POST", path: "/gossip/merge_balances", auth: strangerAuth,
			body: []byte(`{"certificates":["{cert}"]}`), want: 403},
		{op: "mergeBalances", name: "no auth", method: "POST", path: "/gossip/merge_balances", body: []byte(`{"certificates":["{cert}"]}`), want: 401},
		{op: "gossipTxWitness", name: "signed", method: "POST", path: "/gossip/tx_witness", auth: signedAuth,
			body: []byte(`{"tx":"{peertx}"}`), want: 200},
		{op: "gossipTxWitness", name: "again, same vote", method: "POST", path: "/gossip/tx_witness", auth: adminAuth,
			body: []byte(`{"tx":"{peertx}"}`), want: 200},
		{op: "gossipTxWitness", name: "not a transaction", method: "POST", path: "/gossip/tx_witness", auth: adminAuth,
			body: []byte(`{"tx":"AAAA"}`), want: 400},
		{op: "gossipTxWitness", name: "not base64", method: "POST", path: "/gossip/tx_witness", auth: adminAuth,
			body: []byte(`{"tx":"!!"}`), want: 400},
		{op: "gossipTxWitness", name: "stranger", method: "POST", path: "/gossip/tx_witness", auth: strangerAuth,
			body: []byte(`{"tx":"{peertx}"}`), want: 403},
		{op: "gossipTxWitness", name: "no auth", method: "POST", path: "/gossip/tx_witness", body: []byte(`{"tx":"{peertx}"}`), want: 401},
		// The manual flow: send, witness, finalize.
		{op: "postTransfer", name: "manual", method: "POST", path: "/transfers", auth: adminAuth,
			body: []byte(`{"dst":"{peer}","amount":"2","manual":true}`), want: 202},
		{op: "getTxPool", name: "ok", method: "GET", path: "/gossip/tx_pool", want: 200},
		{op: "getTxPool", name: "no economy", method: "GET", path: "/gossip/tx_pool", alone: true, want: 409},
		{op: "finalizeTx", name: "not signed yet", method: "POST", path: "/tx/{tx}/finalize", auth: adminAuth, want: 409},
		{op: "witnessTx", name: "not a witness", method: "POST", path: "/tx/{tx}/witness", auth: adminAuth,
			body: []byte(`{"witness":"{peer}"}`), want: 400},
		{op: "witnessTx", name: "ok", method: "POST", path: "/tx/{tx}/witness", auth: adminAuth, body: []byte(`{}`), want: 200},
		{op: "witnessTx", name: "unknown", method: "POST", path: "/tx/" + strings.Repeat("0", 64) + "/witness", auth: adminAuth,
			body: []byte(`{}`), want: 404},
		{op: "witnessTx", name: "no auth", method: "POST", path: "/tx/{tx}/witness", body: []byte(`{}`), want: 401},
		{op: "finalizeTx", name: "ok", method: "POST", path: "/tx/{tx}/finalize", auth: adminAuth, want: 200},
		{op: "finalizeTx", name: "unknown", method: "POST", path: "/tx/" + strings.Repeat("0", 64) + "/finalize", auth: adminAuth, want: 404},
		{op: "finalizeTx", name: "no auth", method: "POST", path: "/tx/{tx}/finalize", want: 401},

		{op: "admitNode", name: "ok", method: "POST", path: "/cluster/admit", auth: adminAuth,
			body: []byte(`{"node_id":"` + newcomer + `","name":"newcomer"}`), want: 200},
		{op: "admitNode", name: "bad node id", method: "POST", path: "/cluster/admit", auth: adminAuth,
			body: []byte(`{"node_id":"did:key:nope"}`), want: 400},
		{op: "admitNode", name: "name too long", method: "POST", path: "/cluster/admit", auth: adminAuth,
			body: []byte(`{"node_id":"` + newcomer + `","name":"` + strings.Repeat("n", 65) + `"}`), want: 400},
		{op: "admitNode", name: "no auth", method: "POST", path: "/cluster/admit", body: []byte(`{"node_id":"` + newcomer + `"}`), want: 401},
		{op: "revokeNode", name: "ok", method: "POST", path: "/cluster/revoke", auth: adminAuth,
			body: []byte(`{"node_id":"` + newcomer + `"}`), want: 200},
		{op: "revokeNode", name: "already revoked", method: "POST", path: "/cluster/revoke", auth: adminAuth,
			body: []byte(`{"node_id":"` + newcomer + `"}`), want: 400},
		{op: "revokeNode", name: "no auth", method: "POST", path: "/cluster/revoke", body: []byte(`{"node_id":"` + newcomer + `"}`), want: 401},
		{op: "signCluster", name: "completes a proposal", method: "POST", path: "/cluster/sign", auth: adminAuth,
			body: []byte(`{"document":"{proposal}"}`), want: 200},
		{op: "signCluster", name: "an older version", method: "POST", path: "/cluster/sign", auth: adminAuth,
			body: []byte(`{"document":"{next}"}`), want: 409},
		{op: "signCluster", name: "no auth", method: "POST", path: "/cluster/sign", body: []byte(`{"document":"{next}"}`), want: 401},
		{op: "initCluster", name: "on a node running alone", method: "POST", path: "/cluster", auth: adminAuth, alone: true,
			body: []byte(`{}`), want: 200},
		{op: "initCluster", name: "already in a cluster", method: "POST", path: "/cluster", auth: adminAuth, body: []byte(`{}`), want: 409},
		{op: "initCluster", name: "threshold out of range", method: "POST", path: "/cluster", auth: adminAuth,
			body: []byte(`{"threshold":17}`), want: 400},
		{op: "getPendingNodes", name: "ok", method: "GET", path: "/cluster/pending", want: 200},
		{op: "getPendingNodes", name: "wrong method", method: "POST", path: "/cluster/pending", want: 405},

		{op: "appendBlock", name: "ok", method: "POST", path: "/gossip/append_block", auth: signedAuth, body: []byte(`{block}`), want: 200},
		{op: "appendBlock", name: "again", method: "POST", path: "/gossip/append_block", auth: adminAuth, body: []byte(`{block}`), want: 200},
		{op: "gossipBlock", name: "ok", method: "GET", path: "/gossip/block?name={blockname}", auth: signedAuth, want: 200},
		{op: "gossipBlocks", name: "author's blocks", method: "GET", path: "/gossip/blocks?author={peer}&after=0&limit=10", auth: signedAuth, want: 200},
		{op: "forwardItem", name: "delivered", method: "POST", path: "/gossip/forward", auth: signedAuth,
			body: []byte(`{"dest":"{self}","kind":"block","payload":"{blockb64}","ttl_seconds":60}`), want: 200},
		{op: "gossipBlocks", name: "heads", method: "GET", path: "/gossip/blocks", auth: adminAuth, want: 200},
		{op: "gossipBlocks", name: "bad author", method: "GET", path: "/gossip/blocks?author=nobody", auth: adminAuth, want: 400},
		{op: "gossipBlocks", name: "limit out of range", method: "GET", path: "/gossip/blocks?limit=257", auth: adminAuth, want: 400},
		{op: "gossipBlocks", name: "no auth", method: "GET", path: "/gossip/blocks", want: 401},
		{op: "gossipBlock", name: "unknown", method: "GET", path: "/gossip/block?name=" + strings.Repeat("0", 64), auth: adminAuth, want: 404},
		{op: "gossipBlock", name: "bad name", method: "GET", path: "/gossip/block?name=zz", auth: adminAuth, want: 400},
		{op: "gossipBlock", name: "no auth", method: "GET", path: "/gossip/block?name=" + strings.Repeat("0", 64), want: 401},
		{op: "appendBlock", name: "malformed", method: "POST", path: "/gossip/append_block", auth: adminAuth, body: []byte(`{"version":"0.1"}`), want: 400},
		{op: "appendBlock", name: "no auth", method: "POST", path: "/gossip/append_block", body: []byte(`{}`), want: 401},
		{op: "forwardItem", name: "bad kind", method: "POST", path: "/gossip/forward", auth: adminAuth,
			body: []byte(`{"dest":"` + newcomer + `","kind":"Bad Kind","payload":"eA==","ttl_seconds":5}`), want: 400},
		{op: "forwardItem", name: "no auth", method: "POST", path: "/gossip/forward", body: []byte(`{}`), want: 401},
		{op: "listBlocks", name: "ok", method: "GET", path: "/ledger/blocks", auth: adminAuth, want: 200},
		{op: "listBlocks", name: "limit out of range", method: "GET", path: "/ledger/blocks?limit=0", auth: adminAuth, want: 400},
		{op: "listBlocks", name: "no auth", method: "GET", path: "/ledger/blocks", want: 401},
		{op: "mergeBlocks", name: "empty set", method: "POST", path: "/ledger/merge", auth: adminAuth, body: []byte(`{"blocks":[]}`), want: 200},
		{op: "mergeBlocks", name: "neither blocks nor source", method: "POST", path: "/ledger/merge", auth: adminAuth, body: []byte(`{}`), want: 400},
		{op: "mergeBlocks", name: "no auth", method: "POST", path: "/ledger/merge", body: []byte(`{}`), want: 401},
		{op: "sealBlock", name: "nothing to seal", method: "POST", path: "/ledger/seal", auth: adminAuth, want: 200},
		{op: "sealBlock", name: "no auth", method: "POST", path: "/ledger/seal", want: 401},
		{op: "listOutbox", name: "ok", method: "GET", path: "/ledger/outbox", auth: adminAuth, want: 200},
		{op: "listOutbox", name: "no auth", method: "GET", path: "/ledger/outbox", want: 401},

		{op: "createQuorum", name: "ok", method: "POST", path: "/quorums", auth: adminAuth, body: []byte(`{"kind":"job","id":"job-123","required":2.5}`), want: 200},
		{op: "createQuorum", name: "bad kind", method: "POST", path: "/quorums", auth: adminAuth, body: []byte(`{"kind":"coin","id":"x","required":1}`), want: 400},
		{op: "createQuorum", name: "zero required", method: "POST", path: "/quorums", auth: adminAuth, body: []byte(`{"kind":"job","id":"x","required":0}`), want: 400},
		{op: "createQuorum", name: "no auth", method: "POST", path: "/quorums", body: []byte(`{"kind":"job","id":"x","required":1}`), want: 401},
		{op: "ackQuorum", name: "signed", method: "POST", path: "/quorums/job/job-123/ack", auth: signedAuth, body: []byte(`{}`), want: 200},
		{op: "ackQuorum", name: "admin for a node", method: "POST", path: "/quorums/job/job-123/ack", auth: adminAuth, body: []byte(`{"node":"node-a"}`), want: 200},
		{op: "ackQuorum", name: "unknown quorum", method: "POST", path: "/quorums/job/nope/ack", auth: adminAuth, body: []byte(`{}`), want: 404},
		{op: "ackQuorum", name: "bad node", method: "POST", path: "/quorums/job/job-123/ack", auth: adminAuth, body: []byte(`{"node":"a b"}`), want: 400},
		{op: "ackQuorum", name: "no auth", method: "POST", path: "/quorums/job/job-123/ack", body: []byte(`{}`), want: 401},
		{op: "getQuorum", name: "ok", method: "GET", path: "/quorums/job/job-123", auth: adminAuth, want: 200},
		{op: "getQuorum", name: "unknown", method: "GET", path: "/quorums/token/nope", auth: adminAuth, want: 404},
		{op: "getQuorum", name: "bad kind", method: "GET", path: "/quorums/coin/x", auth: adminAuth, want: 400},
		{op: "getQuorum", name: "no auth", method: "GET", path: "/quorums/job/job-123", want: 401},
		{op: "listQuorums", name: "ok", method: "GET", path: "/quorums?kind=job", auth: adminAuth, want: 200},
		{op: "listQuorums", name: "no kind", method: "GET", path: "/quorums", auth: adminAuth, want: 400},
		{op: "listQuorums", name: "no auth", method: "GET", path: "/quorums?kind=job", want: 401},
		{op: "getQuorumPolicy", name: "ok", method: "GET", path: "/quorum/policy", auth: adminAuth, want: 200},
		{op: "getQuorumPolicy", name: "no auth", method: "GET", path: "/quorum/policy", want: 401},
		{op: "setQuorumPolicy", name: "ok", method: "PUT", path: "/quorum/policy", auth: adminAuth, header: jsonType, body: []byte(`{"default_weight":1,"weights":{"node-a":2.5},"decay":{"upload":{"half_life_seconds":0,"max_age_seconds":0},"job":{"half_life_seconds":1800,"max_age_seconds":7200},"token":{"half_life_seconds":3600,"max_age_seconds":21600}}}`), want: 200},
		{op: "setQuorumPolicy", name: "negative weight", method: "PUT", path: "/quorum/policy", auth: adminAuth, header: jsonType,
			body: []byte(strings.Replace(`{"default_weight":1,"weights":{"node-a":2.5},"decay":{"upload":{"half_life_seconds":0,"max_age_seconds":0},"job":{"half_life_seconds":1800,"max_age_seconds":7200},"token":{"half_life_seconds":3600,"max_age_seconds":21600}}}`, "2.5", "-1", 1)), want: 400},
		{op: "setQuorumPolicy", name: "no auth", method: "PUT", path: "/quorum/policy", header: jsonType, body: []byte(`{"default_weight":1,"weights":{"node-a":2.5},"decay":{"upload":{"half_life_seconds":0,"max_age_seconds":0},"job":{"half_life_seconds":1800,"max_age_seconds":7200},"token":{"half_life_seconds":3600,"max_age_seconds":21600}}}`), want: 401},

		{op: "getMetrics", name: "ok", method: "GET", path: "/metrics", want: 200},
		{op: "getMetrics", name: "wrong method", method: "POST", path: "/metrics", want: 405},

		{op: "getOpenAPI", name: "ok", method: "GET", path: "/openapi.yaml", want: 200},
		{op: "getOpenAPI", name: "wrong method", method: "DELETE", path: "/openapi.yaml", want: 405},

		// Last, as they switch the node off: the answers of a host that
		// takes no work, and of a put with no host to store on.
		{op: "toggle", name: "off", method: "POST", path: "/toggle", auth: adminAuth, body: []byte(`{"active":false}`), want: 200},
		{op: "getQuote", name: "host off", method: "GET", path: "/quote?type=compute&size=1", want: 409},
		{op: "runJob", name: "host off", method: "POST", path: "/run", auth: adminAuth, body: []byte(`{"job_id":"contract-job-off"}`), want: 409},
		{op: "putAsset", name: "no live host", method: "POST", path: "/assets?name=off.txt", auth: adminAuth, header: octet,
			body: []byte(assetData), want: 503},
	}...)
}

// TestContract walks every operation of openapi.yaml against a live node:
// each is routed, accepts a valid request (with a node signature too where
// the spec allows one), refuses invalid ones, and every response, success
// or problem, matches the spec.
func TestContract(t *testing.T) {
	testutil.CheckGoroutines(t)
	spec, router := loadSpec(t)
	cases := contractCases()
	checkCoverage(t, specOperations(spec), cases)

	peer, err := identity.Generate(randReader())
	if err != nil {
		t.Fatal(err)
	}
	c := servertest.NewCluster(t)
	tn := servertest.Start(t, servertest.Options{Members: []identity.NodeID{peer.ID()}, Cluster: c, StorageBillWindow: time.Minute})
	alone := servertest.Start(t, servertest.Options{Alone: true})
	signer := identity.NewRequestSigner(peer, 1)
	stranger, err := identity.Generate(randReader())
	if err != nil {
		t.Fatal(err)
	}
	strangerSigner := identity.NewRequestSigner(stranger, 1)
	next := c.Next(t, func(d cluster.Document) (cluster.Document, error) {
		d, err := d.WithAdmins(append(slices.Clone(d.Admins), tn.Keys.ID()), 1)
		if err != nil {
			return d, err
		}
		return d.WithEconomy(cluster.Economy{Witnesses: []cluster.Witness{{ID: tn.Keys.ID(), Weight: 1}},
			TxFeeMin: 1000, TxFeeMax: 1000, Genesis: []cluster.Alloc{{ID: tn.Keys.ID(), Amount: 100_000000}, {ID: peer.ID(), Amount: 10_000000}}})
	})
	// The genesis of an economy needs its witness's signature too.
	if next, err = next.Sign(tn.Keys); err != nil {
		t.Fatal(err)
	}
	peerTx, err := economy.SignTx(economy.Tx{Cluster: next.ID, Epoch: 1, Src: string(peer.ID()), Dst: string(tn.Keys.ID()),
		Amount: 1_000000, Fee: 1000, Nonce: 1, Kind: economy.KindTransfer}, peer)
	if err != nil {
		t.Fatal(err)
	}
	txID, cert := "none-yet", "none-yet"
	proposal := next
	proposal.Serial += 100
	proposal.Signatures = nil
	docB64 := func(d cluster.Document) string {
		b, err := d.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(b)
	}

	assetID := "not-stored-yet"
	jobID := "j-000000000000000000000000"
	shares := contractShares(t, peer, tn.Keys)
	blk := contractBlock(t, tn.Node, peer)
	blkJSON, err := json.Marshal(blk)
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.NewReplacer("{block}", string(blkJSON), "{blockb64}", base64.StdEncoding.EncodeToString(blkJSON),
		"{blockname}", blk.Name().String(), "{self}", string(tn.Keys.ID()), "{peer}", string(peer.ID()))
	maps.Copy(shares, contractReceipts(t, tn, peer, signer))
	// The peer keeps a mebibyte here, so the last minute's storage window
	// is worth a receipt.
	if _, err := tn.Node.StoreShard(t.Context(), "contract-bill.0", 0, bytes.NewReader(make([]byte, 1<<20)), "", string(peer.ID())); err != nil {
		t.Fatal(err)
	}
	lastMinute := strconv.FormatInt(ledger.LastWindow(time.Now(), time.Minute).Start, 10)
	for _, tc := range cases {
		t.Run(tc.op+"/"+tc.name, func(t *testing.T) {
			tc.path = blocks.Replace(tc.path)
			tc.body = []byte(blocks.Replace(string(tc.body)))
			tc.path = strings.ReplaceAll(tc.path, "{asset}", assetID)
			tc.path = strings.ReplaceAll(tc.path, "{tx}", txID)
			for k, v := range map[string]string{"{peer}": string(peer.ID()), "{cert}": cert, "{lastminute}": lastMinute,
				"{peertx}": base64.StdEncoding.EncodeToString(peerTx.Encode())} {
				tc.body = bytes.ReplaceAll(tc.body, []byte(k), []byte(v))
			}
			tc.path = strings.ReplaceAll(tc.path, "{job}", jobID)
			if tc.want == 200 && (tc.op == "getJobOutput" || tc.op == "execOutput") {
				waitOutput(t, func() int {
					req := newRequest(t, tn, http.MethodGet, tc.path, nil, tc.auth == adminAuth)
					if tc.auth == signedAuth {
						if err := signer.Sign(req, identity.BodyDigest(nil)); err != nil {
							t.Fatal(err)
						}
					}
					return do(t, tn, req).StatusCode
				})
			}
			tc.body = bytes.ReplaceAll(tc.body, []byte("{next}"), []byte(docB64(next)))
			tc.body = bytes.ReplaceAll(tc.body, []byte("{proposal}"), []byte(docB64(proposal)))
			if b, ok := shares[string(tc.body)]; ok {
				tc.body = b
			}
			target := tn
			if tc.alone {
				target = alone
			}
			req := newRequest(t, target, tc.method, tc.path, tc.body, tc.auth == adminAuth)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			switch tc.auth {
			case wrongToken:
				req.Header.Set("Authorization", "Bearer wrong-token-0123456789")
			case signedAuth:
				if err := signer.Sign(req, identity.BodyDigest(tc.body)); err != nil {
					t.Fatalf("Sign: %v", err)
				}
			case strangerAuth:
				if err := strangerSigner.Sign(req, identity.BodyDigest(tc.body)); err != nil {
					t.Fatalf("Sign: %v", err)
				}
			}
			if tc.want < 300 {
				validateRequest(t, router, req, tc.body)
			}
			r := do(t, target, req)
			if r.StatusCode != tc.want {
				t.Fatalf("%s %s = %d, want %d (body %s)", tc.method, tc.path, r.StatusCode, tc.want, r.body)
			}
			if tc.want >= 400 && tc.method != http.MethodHead {
				checkProblem(t, tc.method+" "+tc.path, r, tc.want)
			}
			validateResponse(t, spec, router, req, tc.body, r)
			if tc.op == "putAsset" && r.StatusCode == http.StatusCreated {
				var a struct {
					AssetID string `json:"asset_id"`
				}
				if err := json.Unmarshal(r.body, &a); err != nil || a.AssetID == "" {
					t.Fatalf("putAsset answered %s, want an asset", r.body)
				}
				assetID = a.AssetID
			}
			if tc.op == "postTransfer" && r.StatusCode < 300 {
				var tx struct {
					TxID        string `json:"tx_id"`
					Certificate string `json:"certificate"`
				}
				if err := json.Unmarshal(r.body, &tx); err != nil || tx.TxID == "" {
					t.Fatalf("postTransfer answered %s, want a transaction", r.body)
				}
				txID = tx.TxID
				if tx.Certificate != "" {
					cert = tx.Certificate
				}
			}
			if tc.op == "submitJob" && r.StatusCode == http.StatusAccepted {
				var j struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(r.body, &j); err != nil || j.ID == "" {
					t.Fatalf("submitJob answered %s, want a job", r.body)
				}
				jobID = j.ID
			}
		})
	}
}

// waitOutput waits until a job's output can be read (its run takes a
// moment): get answers something else than 409.
func waitOutput(t *testing.T, get func() int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if get() != http.StatusConflict {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("output never ready")
}

// checkCoverage fails unless every operation in the spec has a successful
// and a refused case (and a signed one when the spec allows signatures),
// and every case names an operation of the spec.
func checkCoverage(t *testing.T, ops map[string][]string, cases []contractCase) {
	t.Helper()
	type cover struct{ ok, refused, signed bool }
	got := map[string]*cover{}
	for _, tc := range cases {
		if _, ok := ops[tc.op]; !ok {
			t.Errorf("contract case %q names operation %q, which is not in the spec", tc.name, tc.op)
			continue
		}
		c := got[tc.op]
		if c == nil {
			c = &cover{}
			got[tc.op] = c
		}
		c.ok = c.ok || tc.want < 300
		c.refused = c.refused || tc.want >= 400
		c.signed = c.signed || (tc.auth == signedAuth && tc.want < 300)
	}
	for op, schemes := range ops {
		c := got[op]
		switch {
		case c == nil:
			t.Errorf("operation %s has no contract case; add a valid and an invalid request to contractCases", op)
		case !c.ok:
			t.Errorf("operation %s has no successful contract case", op)
		case !c.refused:
			t.Errorf("operation %s has no refused contract case", op)
		case slices.Contains(schemes, "nodeSignature") && !c.signed:
			t.Errorf("operation %s accepts node signatures but no contract case sends one", op)
		}
	}
}

// validateRequest checks that a request the test calls valid is valid per
// the spec, security included.
func validateRequest(t *testing.T, router routers.Router, req *http.Request, body []byte) {
	t.Helper()
	clone := req.Clone(t.Context())
	clone.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := router.FindRoute(clone)
	if err != nil {
		t.Fatalf("FindRoute(%s %s): %v", req.Method, req.URL, err)
	}
	err = openapi3filter.ValidateRequest(t.Context(), &openapi3filter.RequestValidationInput{
		Request: clone, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: checkCredentialsPresent},
	})
	if err != nil {
		t.Fatalf("test bug: %s %s is not a valid request: %v", req.Method, req.URL, err)
	}
}

// checkCredentialsPresent is an openapi3filter.AuthenticationFunc that
// checks a request carries the credential a security scheme names.
func checkCredentialsPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header
	switch in.SecuritySchemeName {
	case "adminToken":
		if !strings.HasPrefix(h.Get("Authorization"), "Bearer ") {
			return fmt.Errorf("no bearer token")
		}
	case "nodeSignature":
		if h.Get(identity.RequestSignatureHeader) == "" {
			return fmt.Errorf("no %s header", identity.RequestSignatureHeader)
		}
	default:
		return fmt.Errorf("unknown security scheme %q", in.SecuritySchemeName)
	}
	return nil
}

// validateResponse checks r against the spec's responses for req's
// operation (status, headers, body). Requests that match no operation
// (wrong method, unknown path) must get a problem that fits the Problem
// schema.
func validateResponse(t *testing.T, spec *openapi3.T, router routers.Router, req *http.Request, body []byte, r response) {
	t.Helper()
	clone := req.Clone(t.Context())
	clone.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := router.FindRoute(clone)
	if err != nil {
		if r.StatusCode != http.StatusNotFound && r.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s matches no operation, but got status %d", req.Method, req.URL.Path, r.StatusCode)
		}
		var v any
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Fatalf("%s %s: problem body %q: %v", req.Method, req.URL.Path, r.body, err)
		}
		if err := spec.Components.Schemas["Problem"].Value.VisitJSON(v); err != nil {
			t.Errorf("%s %s: body does not match the Problem schema: %v", req.Method, req.URL.Path, err)
		}
		return
	}
	// The default answer is for internal errors; every other status a
	// node gives must be named, so that clients know it.
	if r.StatusCode != http.StatusInternalServerError && route.Operation.Responses.Status(r.StatusCode) == nil {
		t.Errorf("%s %s answered %d, which operation %s does not list", req.Method, req.URL.Path, r.StatusCode, route.Operation.OperationID)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true}
	if r.Header.Get("Content-Type") == "application/yaml" {
		// kin-openapi decodes YAML bodies into objects, which can never
		// match the spec's {type: string}; check the document instead.
		opts.ExcludeResponseBody = true
		checkServedSpec(t, spec, r.body)
	}
	err = openapi3filter.ValidateResponse(t.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: clone, PathParams: params, Route: route},
		Status:                 r.StatusCode,
		Header:                 r.Header,
		Body:                   io.NopCloser(bytes.NewReader(r.body)),
		Options:                opts,
	})
	if err != nil {
		t.Errorf("ValidateResponse(%s %s -> %d) drifted from the spec: %v\nbody: %.400s",
			req.Method, req.URL, r.StatusCode, err, r.body)
	}
}

// checkServedSpec checks that the document served at /openapi.yaml is a
// valid OpenAPI document with the same operations as the embedded spec.
func checkServedSpec(t *testing.T, spec *openapi3.T, body []byte) {
	t.Helper()
	served, err := openapi3.NewLoader().LoadFromData(body)
	if err != nil {
		t.Fatalf("load served /openapi.yaml: %v", err)
	}
	if diff := cmp.Diff(specOperations(spec), specOperations(served)); diff != "" {
		t.Errorf("/openapi.yaml operations differ from the embedded spec (-embedded +served):\n%s", diff)
	}
}

// newcomer is a valid node ID the contract test admits and revokes.
var newcomer = func() string {
	k, err := identity.Generate(randReader())
	if err != nil {
		panic(err)
	}
	return string(k.ID())
}()

// contractShares returns the bodies the share and import cases name by
// placeholder: a share request for peer, and share manifests from peer for
// the node, for another node, and one altered after signing.
func contractShares(t *testing.T, peer, nodeKeys *identity.Keys) map[string][]byte {
	t.Helper()
	other, err := identity.Generate(randReader())
	if err != nil {
		t.Fatal(err)
	}
	manifest := func(to *identity.Keys) storage.Share {
		key, prefix, err := storage.NewAssetKey(randReader())
		if err != nil {
			t.Fatal(err)
		}
		w, err := storage.WrapKey(randReader(), key, prefix, to.BoxPublic(), "shared-asset")
		if err != nil {
			t.Fatal(err)
		}
		s, err := storage.SignShare(peer, storage.Share{AssetID: "shared-asset", Name: "shared.txt", Size: 5,
			FileHash: strings.Repeat("ab", 32), Mode: "ec", K: 1, N: 1, ShardSize: 4096, Stripes: 1,
			Recipient: string(to.ID()), Key: w, Shards: []storage.ShareShard{{Hash: strings.Repeat("cd", 32),
				HostID: string(peer.ID()), Endpoint: "http://127.0.0.1:9"}}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	encode := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bad := manifest(nodeKeys)
	bad.Name = "renamed.txt"
	return map[string][]byte{
		"{share-request}":   encode(map[string]string{"to": string(peer.ID()), "box_key": hex.EncodeToString(peer.BoxPublic())}),
		"{share-for-node}":  encode(manifest(nodeKeys)),
		"{share-for-other}": encode(manifest(other)),
		"{share-bad-sig}":   encode(bad),
	}
}

// contractBlock returns a block of one receipt by k, of the cluster the
// test node n is in.
func contractBlock(t *testing.T, n *node.Node, k *identity.Keys) ledger.Block {
	t.Helper()
	d, ok := n.Cluster()
	if !ok {
		t.Fatal("the contract's node is in no cluster")
	}
	r, err := ledger.SignReceipt(k, ledger.Receipt{Version: ledger.ReceiptVersion, ClusterID: d.ID.String(),
		ResourceType: ledger.ResourceCompute, JobID: "contract-job", Units: 1000, Seq: 1, IssuedAt: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ledger.NewBlock(k, r.ClusterID, 1, nil, []ledger.Receipt{r})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonType is the Content-Type of a JSON body sent with PUT (newRequest
// gives PUT bodies the shard upload's octet-stream).
var jsonType = map[string]string{"Content-Type": "application/json"}
