package server_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// nodeState is what a refused request must not change: the announce, the
// receipts export and the files of the shard store.
type nodeState struct {
	Announce string
	Receipts string
	Files    []string
}

func snapshot(t testing.TB, tn *servertest.Node) nodeState {
	t.Helper()
	a := call(t, tn, "GET", "/announce", nil, false)
	r := call(t, tn, "GET", "/receipts/export", nil, false)
	if a.StatusCode != 200 || r.StatusCode != 200 {
		t.Fatalf("snapshot: GET /announce = %d, GET /receipts/export = %d, want 200", a.StatusCode, r.StatusCode)
	}
	return nodeState{Announce: string(a.body), Receipts: string(r.body), Files: blobFiles(t, tn)}
}

// badCase is a request the node must refuse with want, changing nothing.
type badCase struct {
	name   string
	method string
	path   string
	body   []byte
	header map[string]string
	// auth adds the admin token; sign signs the request with a peer key
	// and then lets tamper change it.
	auth   bool
	sign   bool
	tamper func(r *http.Request)
	want   int
}

func storeJSON(asset string, index int, data []byte, extra string) []byte {
	return fmt.Appendf(nil, `{"asset_id":%q,"index":%d,"data_b64":%q%s}`, asset, index, base64.StdEncoding.EncodeToString(data), extra)
}

// TestBadInputIsRefusedWithoutChange sends malformed, out-of-range,
// oversize, unauthenticated and forged requests and checks that each gets
// a 4xx problem of the right status, never a 5xx, and that none changes the
// announce, the receipts or the shard store.
func TestBadInputIsRefusedWithoutChange(t *testing.T) {
	testutil.CheckGoroutines(t)
	const maxShard = 1024
	members := servertest.NewCluster(t)
	tn := servertest.Start(t, servertest.Options{MaxShardBytes: maxShard, Cluster: members})
	// Something to export, so that an accidental receipt would show.
	if r := call(t, tn, "POST", "/run", []byte(`{"job_id":"seed"}`), true); r.StatusCode != 200 {
		t.Fatalf("POST /run = %d, want 200: %s", r.StatusCode, r.body)
	}

	big := bytes.Repeat([]byte("x"), maxShard+1)
	manyMetrics := func() []byte {
		var b strings.Builder
		b.WriteString(`{"job_id":"j","metrics":{`)
		for i := range 65 {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"m%d":1`, i)
		}
		b.WriteString("}}")
		return []byte(b.String())
	}()
	cases := []badCase{
		// Announce updates.
		{name: "announce/malformed JSON", method: "POST", path: "/announce", auth: true, body: []byte(`{"prices":`), want: 400},
		{name: "announce/not an object", method: "POST", path: "/announce", auth: true, body: []byte(`[1,2]`), want: 400},
		{name: "announce/empty body", method: "POST", path: "/announce", auth: true, body: []byte(``), want: 400},
		{name: "announce/wrong type", method: "POST", path: "/announce", auth: true, body: []byte(`{"min_oncall_percent":"ten"}`), want: 400},
		{name: "announce/unknown field", method: "POST", path: "/announce", auth: true, body: []byte(`{"prices":{"gold":"1"}}`), want: 400},
		{name: "announce/negative price", method: "POST", path: "/announce", auth: true, body: []byte(`{"prices":{"compute":"-1"}}`), want: 400},
		{name: "announce/price as number", method: "POST", path: "/announce", auth: true, body: []byte(`{"prices":{"compute":1.5}}`), want: 400},
		{name: "announce/seven decimals", method: "POST", path: "/announce", auth: true, body: []byte(`{"prices":{"compute":"0.0000001"}}`), want: 400},
		{name: "announce/absurd price", method: "POST", path: "/announce", auth: true, body: []byte(`{"prices":{"storage":"9999999999999"}}`), want: 400},
		{name: "announce/price overflows int64", method: "POST", path: "/announce", auth: true, body: []byte(`{"prices":{"storage":"9999999999999.999999"}}`), want: 400},
		{name: "announce/percent above 100", method: "POST", path: "/announce", auth: true, body: []byte(`{"burst_percent_max":101}`), want: 400},
		{name: "announce/negative percent", method: "POST", path: "/announce", auth: true, body: []byte(`{"min_oncall_percent":-1}`), want: 400},
		{name: "announce/fractional percent", method: "POST", path: "/announce", auth: true, body: []byte(`{"min_oncall_percent":10.5}`), want: 400},
		{name: "announce/min above burst", method: "POST", path: "/announce", auth: true, body: []byte(`{"min_oncall_percent":90,"burst_percent_max":50}`), want: 400},
		{name: "announce/valid price, bad percent", method: "POST", path: "/announce", auth: true, body: []byte(`{"prices":{"compute":"7"},"burst_percent_max":200}`), want: 400},
		{name: "announce/text content type", method: "POST", path: "/announce", auth: true, body: []byte(`{}`),
			header: map[string]string{"Content-Type": "text/plain"}, want: 400},
		{name: "announce/oversize body", method: "POST", path: "/announce", auth: true,
			body: append(append([]byte(`{"prices":{"compute":"1"},"x":"`), bytes.Repeat([]byte("a"), 2<<20)...), `"}`...), want: 413},

		// Auth.
		{name: "auth/missing token", method: "POST", path: "/toggle", body: []byte(`{"active":false}`), want: 401},
		{name: "auth/wrong token", method: "POST", path: "/toggle", body: []byte(`{"active":false}`),
			header: map[string]string{"Authorization": "Bearer not-the-admin-token-xyz"}, want: 401},
		{name: "auth/empty bearer", method: "POST", path: "/toggle", body: []byte(`{"active":false}`),
			header: map[string]string{"Authorization": "Bearer "}, want: 401},
		{name: "auth/basic", method: "POST", path: "/toggle", body: []byte(`{"active":false}`),
			header: map[string]string{"Authorization": "Basic YWRtaW46YWRtaW4="}, want: 401},
		{name: "auth/token prefix", method: "POST", path: "/toggle", body: []byte(`{"active":false}`),
			header: map[string]string{"Authorization": "Bearer " + servertest.AdminToken[:16]}, want: 401},
		{name: "auth/signature on admin-only call", method: "POST", path: "/toggle", body: []byte(`{"active":false}`), sign: true, want: 401},

		// Quotes.
		{name: "quote/negative size", method: "GET", path: "/quote?type=compute&size=-1", want: 400},
		{name: "quote/exponent", method: "GET", path: "/quote?type=compute&size=1e999", want: 400},
		{name: "quote/14 digits", method: "GET", path: "/quote?type=compute&size=99999999999999", want: 400},
		{name: "quote/above max size", method: "GET", path: "/quote?type=storage&size=1000001", want: 400},
		{name: "quote/overflows int64", method: "GET", path: "/quote?type=storage&size=9999999999999.999999", want: 400},
		{name: "quote/NaN", method: "GET", path: "/quote?type=compute&size=NaN", want: 400},
		{name: "quote/empty size", method: "GET", path: "/quote?type=compute&size=", want: 400},
		{name: "quote/no type", method: "GET", path: "/quote?size=1", want: 400},

		// Jobs.
		{name: "run/malformed JSON", method: "POST", path: "/run", auth: true, body: []byte(`{"job_id":`), want: 400},
		{name: "run/unknown field", method: "POST", path: "/run", auth: true, body: []byte(`{"job_id":"j","units":5}`), want: 400},
		{name: "run/job id too long", method: "POST", path: "/run", auth: true, body: fmt.Appendf(nil, `{"job_id":%q}`, strings.Repeat("j", 129)), want: 400},
		{name: "run/negative metric", method: "POST", path: "/run", auth: true, body: []byte(`{"job_id":"j","metrics":{"compute_tokens_m":-1}}`), want: 400},
		{name: "run/huge metric", method: "POST", path: "/run", auth: true, body: []byte(`{"job_id":"j","metrics":{"compute_tokens_m":1e13}}`), want: 400},
		{name: "run/metric overflows float64", method: "POST", path: "/run", auth: true, body: []byte(`{"job_id":"j","metrics":{"compute_tokens_m":1e999}}`), want: 400},
		{name: "run/65 metrics", method: "POST", path: "/run", auth: true, body: manyMetrics, want: 400},
		{name: "run/empty metric name", method: "POST", path: "/run", auth: true, body: []byte(`{"job_id":"j","metrics":{"":1}}`), want: 400},

		// Receipts export.
		{name: "export/limit too high", method: "GET", path: "/receipts/export?limit=10001", want: 400},
		{name: "export/negative since", method: "GET", path: "/receipts/export?since_seq=-5", want: 400},
		{name: "export/since overflows int64", method: "GET", path: "/receipts/export?since_seq=99999999999999999999", want: 400},

		// Shards.
		{name: "store/malformed JSON", method: "POST", path: "/store", auth: true, body: []byte(`{"asset_id":"a",`), want: 400},
		{name: "store/unknown field", method: "POST", path: "/store", auth: true, body: storeJSON("a", 0, []byte("x"), `,"owner":"me"`), want: 400},
		{name: "store/bad asset id", method: "POST", path: "/store", auth: true, body: storeJSON("a/b", 0, []byte("x"), ""), want: 400},
		{name: "store/negative index", method: "POST", path: "/store", auth: true, body: storeJSON("a", -1, []byte("x"), ""), want: 400},
		{name: "store/hash mismatch", method: "POST", path: "/store", auth: true,
			body: storeJSON("a", 0, []byte("x"), fmt.Sprintf(`,"hash":%q`, hashOf([]byte("y")))), want: 400},
		{name: "store/upper-case hash", method: "POST", path: "/store", auth: true,
			body: storeJSON("a", 0, []byte("x"), fmt.Sprintf(`,"hash":%q`, strings.ToUpper(hashOf([]byte("x"))))), want: 400},
		{name: "store/shard too large", method: "POST", path: "/store", auth: true, body: storeJSON("a", 0, big, ""), want: 413},
		{name: "store/body too large", method: "POST", path: "/store", auth: true, body: storeJSON("a", 0, bytes.Repeat(big, 16), ""), want: 413},
		{name: "put/shard too large", method: "PUT", path: "/shards/a/0", auth: true, body: big, want: 413},
		{name: "put/hash mismatch", method: "PUT", path: "/shards/a/0", auth: true, body: []byte("x"),
			header: map[string]string{"Offgrid-Shard-Hash": hashOf([]byte("y"))}, want: 400},
		{name: "put/index above 255", method: "PUT", path: "/shards/a/256", auth: true, body: []byte("x"), want: 400},
		{name: "put/negative index", method: "PUT", path: "/shards/a/-1", auth: true, body: []byte("x"), want: 400},
		{name: "fetch/missing shard", method: "GET", path: "/fetch?asset_id=a&index=0", auth: true, want: 404},
		{name: "get/missing shard", method: "GET", path: "/shards/a/0", auth: true, want: 404},
		{name: "get/asset id too long", method: "GET", path: "/shards/" + strings.Repeat("a", 129) + "/0", auth: true, want: 400},

		// Node signatures.
		{name: "sig/garbage", method: "POST", path: "/run", body: []byte(`{"job_id":"j"}`),
			header: map[string]string{identity.RequestSignatureHeader: "v1;id=nobody"}, want: 401},
		{name: "sig/forged sender", method: "POST", path: "/run", body: []byte(`{"job_id":"j"}`), sign: true,
			tamper: func(r *http.Request) { replaceSigField(r, "id=", forgedID) }, want: 401},
		{name: "sig/other path", method: "POST", path: "/run", body: []byte(`{"job_id":"j"}`), sign: true,
			tamper: func(r *http.Request) { r.URL.Path = "/store" }, want: 401},
		{name: "sig/other host", method: "POST", path: "/run", body: []byte(`{"job_id":"j"}`), sign: true,
			tamper: func(r *http.Request) { r.Host = "127.0.0.2:80" }, want: 401},
		{name: "sig/tampered body", method: "POST", path: "/run", body: []byte(`{"job_id":"j"}`), sign: true,
			tamper: func(r *http.Request) { setBody(r, []byte(`{"job_id":"k"}`)) }, want: 401},
		{name: "sig/tampered shard", method: "PUT", path: "/shards/a/0", body: []byte("signed bytes"), sign: true,
			tamper: func(r *http.Request) { setBody(r, []byte("evil bytes")) }, want: 401},
		{name: "sig/two headers", method: "POST", path: "/run", body: []byte(`{"job_id":"j"}`), sign: true,
			tamper: func(r *http.Request) {
				r.Header.Add(identity.RequestSignatureHeader, r.Header.Get(identity.RequestSignatureHeader))
			}, want: 401},

		// Unknown routes.
		{name: "route/unknown path", method: "GET", path: "/nope", want: 404},
		{name: "route/wrong method", method: "DELETE", path: "/run", auth: true, want: 405},
	}

	peer, err := identity.Generate(randReader())
	if err != nil {
		t.Fatal(err)
	}
	members.Admit(t, peer.ID())
	signer := identity.NewRequestSigner(peer, 1)
	before := snapshot(t, tn)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(t, tn, tc.method, tc.path, tc.body, tc.auth)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			if tc.sign {
				if err := signer.Sign(req, identity.BodyDigest(tc.body)); err != nil {
					t.Fatalf("Sign: %v", err)
				}
			}
			if tc.tamper != nil {
				tc.tamper(req)
			}
			r := do(t, tn, req)
			checkProblem(t, tc.method+" "+tc.path, r, tc.want)
			if diff := cmp.Diff(before, snapshot(t, tn)); diff != "" {
				t.Errorf("%s %s changed the node (-before +after):\n%s", tc.method, tc.path, diff)
			}
		})
	}

	t.Run("replayed signature", func(t *testing.T) {
		// A signed read that finds nothing is accepted once, then refused.
		req := newRequest(t, tn, "GET", "/fetch?asset_id=replay&index=0", nil, false)
		if err := signer.Sign(req, identity.BodyDigest(nil)); err != nil {
			t.Fatal(err)
		}
		checkProblem(t, "first GET /fetch", do(t, tn, req.Clone(t.Context())), 404)
		checkProblem(t, "replayed GET /fetch", do(t, tn, req.Clone(t.Context())), 401)
		if diff := cmp.Diff(before, snapshot(t, tn)); diff != "" {
			t.Errorf("replay changed the node (-before +after):\n%s", diff)
		}
	})

	t.Run("inactive host", func(t *testing.T) {
		if r := call(t, tn, "POST", "/toggle", []byte(`{"active":false}`), true); r.StatusCode != 200 {
			t.Fatalf("POST /toggle off = %d, want 200: %s", r.StatusCode, r.body)
		}
		defer call(t, tn, "POST", "/toggle", []byte(`{"active":true}`), true)
		off := snapshot(t, tn)
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/quote?type=compute&size=1", ""},
			{"GET", "/quote?type=storage&size=1", ""},
			{"POST", "/run", `{"job_id":"while-off"}`},
			{"POST", "/store", string(storeJSON("off", 0, []byte("x"), ""))},
			{"PUT", "/shards/off/0", "x"},
		} {
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
			}
			checkProblem(t, c.method+" "+c.path+" while inactive", call(t, tn, c.method, c.path, body, true), 409)
		}
		if diff := cmp.Diff(off, snapshot(t, tn)); diff != "" {
			t.Errorf("requests to an inactive host changed it (-before +after):\n%s", diff)
		}
	})
}

// forgedID is a valid node ID that did not sign anything.
var forgedID = func() string {
	k, err := identity.Generate(randReader())
	if err != nil {
		panic(err)
	}
	return string(k.ID())
}()

// replaceSigField replaces one field (e.g. "id=") of r's signature header.
func replaceSigField(r *http.Request, key, value string) {
	fields := strings.Split(r.Header.Get(identity.RequestSignatureHeader), ";")
	for i, f := range fields {
		if strings.HasPrefix(f, key) {
			fields[i] = key + value
		}
	}
	r.Header.Set(identity.RequestSignatureHeader, strings.Join(fields, ";"))
}

// setBody replaces r's body.
func setBody(r *http.Request, body []byte) {
	r.Body = nopCloser{bytes.NewReader(body)}
	r.ContentLength = int64(len(body))
	r.GetBody = nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
