package identity

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zeebo/blake3"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func TestBodyDigest(t *testing.T) {
	t.Parallel()
	// Published BLAKE3-256 vectors (BLAKE3 reference README / b3sum).
	for _, tt := range []struct {
		in   string
		want string
	}{
		{"", "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
		{"abc", "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"},
	} {
		if got := BodyDigest([]byte(tt.in)); got != tt.want {
			t.Errorf("BodyDigest(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got, want := BodyDigest(nil), BodyDigest([]byte{}); got != want {
		t.Errorf("BodyDigest(nil) = %s, want %s", got, want)
	}
}

// requestVector is testdata/request-v1.json: one signed request, to pin the
// wire format.
type requestVector struct {
	Ed25519Seed   string `json:"ed25519_seed"`
	Epoch         uint64 `json:"epoch"`
	Method        string `json:"method"`
	Host          string `json:"host"`
	RequestURI    string `json:"request_uri"`
	Body          string `json:"body"`
	Digest        string `json:"digest"`
	SignedMessage string `json:"signed_message"`
	Header        string `json:"header"`
}

func TestRequestVector(t *testing.T) {
	t.Parallel()
	path := filepath.Join("testdata", "request-v1.json")
	want := requestVector{
		Ed25519Seed: strings.Repeat("42", 32),
		Epoch:       7,
		Method:      http.MethodPost,
		Host:        "node-b.local:8443",
		RequestURI:  "/v1/receipts/caf%C3%A9?batch=42&sig=a%2Fb",
		Body:        `{"amount":5}`,
	}
	seed := mustHex(t, want.Ed25519Seed)
	k, err := Generate(bytes.NewReader(append(seed, make([]byte, 32)...)))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(want.Method, "http://"+want.Host+want.RequestURI, strings.NewReader(want.Body))
	if err := NewRequestSigner(k, want.Epoch).Sign(req, BodyDigest([]byte(want.Body))); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	got := want
	got.Digest = BodyDigest([]byte(want.Body))
	got.Header = req.Header.Get(RequestSignatureHeader)
	got.SignedMessage = strings.Join([]string{want.Method, want.Host, want.RequestURI, "7", "1", got.Digest}, "\n")

	if *update {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(got); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	var golden requestVector
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(golden, got); diff != "" {
		t.Errorf("Sign(%s %s) mismatch with %s (-want +got):\n%s", want.Method, want.RequestURI, path, diff)
	}

	// Check the golden header with plain Ed25519, independently of
	// VerifyRequest: sig = Ed25519(domain || 0x00 || signed message).
	sr, err := ParseRequestSignature(golden.Header)
	if err != nil {
		t.Fatalf("ParseRequestSignature(%q): %v", golden.Header, err)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	if !ed25519.Verify(pub, []byte(RequestDomain+"\x00"+golden.SignedMessage), sr.Sig) {
		t.Errorf("ed25519.Verify(golden signed message) = false, want true")
	}
	if sr.ID != NodeIDFromPublicKey(pub) || sr.Epoch != 7 || sr.Seq != 1 || sr.Digest != golden.Digest {
		t.Errorf("ParseRequestSignature(golden) = %+v, want id %s, epoch 7, seq 1, digest %s", sr, NodeIDFromPublicKey(pub), golden.Digest)
	}
	if _, err := VerifyRequest(req); err != nil {
		t.Errorf("VerifyRequest(golden request) = %v, want nil", err)
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	k := newTestKeys(t, 1)
	for _, tt := range []struct {
		name, method, target, body string
	}{
		{"get root", http.MethodGet, "/", ""},
		{"get with query", http.MethodGet, "/v1/peers?limit=10&after=did%3Akey%3Az6Mk", ""},
		{"post json", http.MethodPost, "/v1/receipts", `{"amount":5}`},
		{"put escaped path", http.MethodPut, "/v1/files/a%2Fb/caf%C3%A9", "chunk bytes"},
		{"delete absolute URL", http.MethodDelete, "http://node-b.local:8443/v1/files/x?force=1", ""},
		{"patch binary body", http.MethodPatch, "/v1/x", "\x00\xff\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			signer := NewRequestSigner(k, 3)
			req := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			digest := BodyDigest([]byte(tt.body))
			if err := signer.Sign(req, digest); err != nil {
				t.Fatalf("Sign(%s %s) = %v, want nil", tt.method, tt.target, err)
			}
			got, err := VerifyRequest(req)
			if err != nil {
				t.Fatalf("VerifyRequest(%s %s) = %v, want nil", tt.method, tt.target, err)
			}
			parsed, err := ParseRequestSignature(req.Header.Get(RequestSignatureHeader))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(parsed, got); diff != "" {
				t.Errorf("VerifyRequest(%s %s) differs from the parsed header (-want +got):\n%s", tt.method, tt.target, diff)
			}
			if diff := cmp.Diff(SignedRequest{ID: k.ID(), Epoch: 3, Seq: 1, Digest: digest, Sig: got.Sig}, got); diff != "" {
				t.Errorf("VerifyRequest(%s %s) mismatch (-want +got):\n%s", tt.method, tt.target, diff)
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				t.Fatal(err)
			}
			if err := got.CheckDigest(BodyDigest(body)); err != nil {
				t.Errorf("CheckDigest(body) = %v, want nil", err)
			}
		})
	}
}

// TestSignVerifyLoopback sends signed requests through a real HTTP client and
// server; the handler does what a node's middleware does.
func TestSignVerifyLoopback(t *testing.T) {
	t.Parallel()
	guard := NewReplayGuard(64, 16, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sr, err := VerifyRequest(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		// Hash the body while reading it, as a streaming handler would.
		h := blake3.New()
		if _, err := io.Copy(h, io.LimitReader(r.Body, 1<<20)); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := sr.CheckDigest(hex.EncodeToString(h.Sum(nil))); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if err := guard.Check(r.Context(), sr); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		fmt.Fprintf(w, "%s %d %d", sr.ID, sr.Epoch, sr.Seq)
	}))
	t.Cleanup(srv.Close)
	client := srv.Client()

	k := newTestKeys(t, 1)
	signer := NewRequestSigner(k, 9)
	send := func(t *testing.T, req *http.Request) (int, string) {
		t.Helper()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("Do(%s %s): %v", req.Method, req.URL, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	newReq := func(t *testing.T, method, path, body string) *http.Request {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return req
	}

	var replay []*http.Request
	for i, tt := range []struct {
		method, path, body string
	}{
		{http.MethodGet, "/v1/peers", ""},
		{http.MethodPost, "/v1/receipts?batch=42", `{"amount":5}`},
		{http.MethodPut, "/v1/files/a%2Fb/café?q=x%20y&z=%E2%9C%93", "chunk"},
		{http.MethodDelete, "/v1/files/x;y", ""},
	} {
		req := newReq(t, tt.method, tt.path, tt.body)
		if err := signer.Sign(req, BodyDigest([]byte(tt.body))); err != nil {
			t.Fatalf("Sign: %v", err)
		}
		code, body := send(t, req)
		if want := fmt.Sprintf("%s 9 %d", k.ID(), i+1); code != http.StatusOK || body != want {
			t.Errorf("%s %s = %d %q, want 200 %q", tt.method, tt.path, code, body, want)
		}
		again := newReq(t, tt.method, tt.path, tt.body)
		again.Header = req.Header.Clone()
		replay = append(replay, again)
	}

	t.Run("replay", func(t *testing.T) {
		for _, req := range replay {
			if code, body := send(t, req); code != http.StatusConflict {
				t.Errorf("replayed %s %s = %d %q, want 409", req.Method, req.URL.Path, code, body)
			}
		}
	})
	t.Run("body changed", func(t *testing.T) {
		req := newReq(t, http.MethodPost, "/v1/receipts", `{"amount":500}`)
		if err := signer.Sign(req, BodyDigest([]byte(`{"amount":5}`))); err != nil {
			t.Fatal(err)
		}
		if code, body := send(t, req); code != http.StatusUnauthorized {
			t.Errorf("POST with changed body = %d %q, want 401", code, body)
		}
	})
	t.Run("host changed", func(t *testing.T) {
		req := newReq(t, http.MethodGet, "/v1/peers", "")
		req.Host = "other.example"
		if err := signer.Sign(req, BodyDigest(nil)); err != nil {
			t.Fatal(err)
		}
		req.Host = ""
		if code, body := send(t, req); code != http.StatusUnauthorized {
			t.Errorf("GET signed for another host = %d %q, want 401", code, body)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		if code, body := send(t, newReq(t, http.MethodGet, "/v1/peers", "")); code != http.StatusUnauthorized {
			t.Errorf("unsigned GET = %d %q, want 401", code, body)
		}
	})
}

func TestVerifyRequestTampered(t *testing.T) {
	t.Parallel()
	k := newTestKeys(t, 1)
	other := newTestKeys(t, 2)
	editHeader := func(f func(*SignedRequest)) func(*http.Request) {
		return func(r *http.Request) {
			sr, err := ParseRequestSignature(r.Header.Get(RequestSignatureHeader))
			if err != nil {
				panic(err) // the header was just made by Sign
			}
			f(&sr)
			r.Header.Set(RequestSignatureHeader, sr.String())
		}
	}
	for _, tt := range []struct {
		name   string
		tamper func(*http.Request)
	}{
		{"method", func(r *http.Request) { r.Method = http.MethodPut }},
		{"method case", func(r *http.Request) { r.Method = "post" }},
		{"host", func(r *http.Request) { r.Host = "node-c.local:8443" }},
		{"host port", func(r *http.Request) { r.Host = "node-b.local:8444" }},
		{"path", func(r *http.Request) { r.URL.Path = "/v1/receipts/2" }},
		{"path escaping", func(r *http.Request) { r.URL.RawPath = "/v1/r%65ceipts" }},
		{"query", func(r *http.Request) { r.URL.RawQuery = "batch=43" }},
		{"query dropped", func(r *http.Request) { r.URL.RawQuery = "" }},
		{"digest", editHeader(func(sr *SignedRequest) { sr.Digest = BodyDigest([]byte("other")) })},
		{"epoch", editHeader(func(sr *SignedRequest) { sr.Epoch++ })},
		{"seq", editHeader(func(sr *SignedRequest) { sr.Seq++ })},
		{"id", editHeader(func(sr *SignedRequest) { sr.ID = other.ID() })},
		{"sig", editHeader(func(sr *SignedRequest) { sr.Sig[10] ^= 1 })},
		{"sig of other key", editHeader(func(sr *SignedRequest) {
			sr.ID = other.ID()
			msg, _ := requestMessage(http.MethodPost, "node-b.local:8443", "/v1/receipts?batch=42", sr.Epoch, sr.Seq, sr.Digest)
			sr.Sig = other.Sign("offgrid/receipt/v1", msg) // right key, wrong domain
		})},
		{"malformed header", func(r *http.Request) { r.Header.Set(RequestSignatureHeader, "v1;id=x") }},
		{"no header", func(r *http.Request) { r.Header.Del(RequestSignatureHeader) }},
		{"two headers", func(r *http.Request) {
			r.Header.Add(RequestSignatureHeader, r.Header.Get(RequestSignatureHeader))
		}},
		{"newline in host", func(r *http.Request) { r.Host = "node-b.local:8443\n" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := `{"amount":5}`
			req := httptest.NewRequest(http.MethodPost, "http://node-b.local:8443/v1/receipts?batch=42", strings.NewReader(body))
			if err := NewRequestSigner(k, 5).Sign(req, BodyDigest([]byte(body))); err != nil {
				t.Fatal(err)
			}
			if _, err := VerifyRequest(req); err != nil {
				t.Fatalf("VerifyRequest(untampered) = %v, want nil", err)
			}
			tt.tamper(req)
			if got, err := VerifyRequest(req); !errors.Is(err, ErrBadRequestSignature) {
				t.Errorf("VerifyRequest(%s tampered) = %+v, %v, want %v", tt.name, got, err, ErrBadRequestSignature)
			}
		})
	}
}

func TestCheckDigest(t *testing.T) {
	t.Parallel()
	sr := SignedRequest{Digest: BodyDigest([]byte("body"))}
	for _, tt := range []struct {
		name, digest string
		wantErr      error
	}{
		{"match", BodyDigest([]byte("body")), nil},
		{"other body", BodyDigest([]byte("bodY")), ErrBadRequestSignature},
		{"empty", "", ErrBadRequestSignature},
		{"upper case", strings.ToUpper(BodyDigest([]byte("body"))), ErrBadRequestSignature},
		{"prefix", BodyDigest([]byte("body"))[:32], ErrBadRequestSignature},
	} {
		if err := sr.CheckDigest(tt.digest); !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: CheckDigest(%q) = %v, want %v", tt.name, tt.digest, err, tt.wantErr)
		}
	}
}

func TestSignErrors(t *testing.T) {
	t.Parallel()
	signer := NewRequestSigner(newTestKeys(t, 1), 1)
	digest := BodyDigest(nil)
	for _, tt := range []struct {
		name   string
		req    *http.Request
		digest string
	}{
		{"empty digest", httptest.NewRequest(http.MethodGet, "/", nil), ""},
		{"upper-case digest", httptest.NewRequest(http.MethodGet, "/", nil), strings.ToUpper(digest)},
		{"short digest", httptest.NewRequest(http.MethodGet, "/", nil), digest[:62]},
		{"raw sum", httptest.NewRequest(http.MethodGet, "/", nil), string(mustHex(t, digest))},
		{"newline in host", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Host = "a\nb"
			return r
		}(), digest},
		{"no URL", &http.Request{Method: http.MethodGet}, digest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := signer.Sign(tt.req, tt.digest); err == nil {
				t.Errorf("Sign(%s, %q) = nil, want error", tt.name, tt.digest)
			}
			if got := tt.req.Header.Get(RequestSignatureHeader); got != "" {
				t.Errorf("Sign(%s) set header %q after error", tt.name, got)
			}
		})
	}
}

// TestSignClientDefaults checks a client request with no Host and no Method,
// as http.NewRequest may leave them, verifies on the server side.
func TestSignClientDefaults(t *testing.T) {
	t.Parallel()
	k := newTestKeys(t, 1)
	u, err := url.Parse("http://node-b.local:8443/v1/x?y=1")
	if err != nil {
		t.Fatal(err)
	}
	out := &http.Request{URL: u}
	if err := NewRequestSigner(k, 1).Sign(out, BodyDigest(nil)); err != nil {
		t.Fatal(err)
	}
	in := httptest.NewRequest(http.MethodGet, "http://node-b.local:8443/v1/x?y=1", nil)
	in.Header = out.Header
	if _, err := VerifyRequest(in); err != nil {
		t.Errorf("VerifyRequest(request signed without Method and Host) = %v, want nil", err)
	}
}

func TestRequestSignerSeq(t *testing.T) {
	t.Parallel()
	signer := NewRequestSigner(newTestKeys(t, 1), 4)
	const goroutines, each = 8, 50
	seqs := make(chan uint64, goroutines*each)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				if err := signer.Sign(req, BodyDigest(nil)); err != nil {
					t.Error(err)
					return
				}
				sr, err := VerifyRequest(req)
				if err != nil {
					t.Error(err)
					return
				}
				seqs <- sr.Seq
			}
		})
	}
	wg.Wait()
	close(seqs)
	seen := make(map[uint64]bool)
	for s := range seqs {
		if seen[s] {
			t.Errorf("seq %d used twice", s)
		}
		seen[s] = true
	}
	for s := uint64(1); s <= goroutines*each; s++ {
		if !seen[s] {
			t.Errorf("seq %d not used; want seqs 1..%d", s, goroutines*each)
		}
	}
}

// validHeader returns a header made by Sign.
func validHeader(t testing.TB) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if err := NewRequestSigner(newTestKeys(t, 1), 12).Sign(req, BodyDigest(nil)); err != nil {
		t.Fatal(err)
	}
	return req.Header.Get(RequestSignatureHeader)
}

func TestParseRequestSignature(t *testing.T) {
	t.Parallel()
	k := newTestKeys(t, 1)
	id := string(k.ID())
	d := BodyDigest(nil)
	sig := make([]byte, 64)
	for i := range sig {
		sig[i] = byte(i * 7)
	}
	s := sigEncoding.EncodeToString(sig)
	hdr := func(id, e, n, d, s string) string {
		return "v1;id=" + id + ";e=" + e + ";n=" + n + ";d=" + d + ";s=" + s
	}

	valid := []struct {
		name string
		in   string
		want SignedRequest
	}{
		{"small", hdr(id, "1", "1", d, s), SignedRequest{ID: k.ID(), Epoch: 1, Seq: 1, Digest: d, Sig: sig}},
		{"zeros", hdr(id, "0", "0", d, s), SignedRequest{ID: k.ID(), Epoch: 0, Seq: 0, Digest: d, Sig: sig}},
		{"max", hdr(id, "18446744073709551615", "18446744073709551615", d, s),
			SignedRequest{ID: k.ID(), Epoch: math.MaxUint64, Seq: math.MaxUint64, Digest: d, Sig: sig}},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequestSignature(tt.in)
			if err != nil {
				t.Fatalf("ParseRequestSignature(%q) = %v, want nil", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseRequestSignature(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
			if s := got.String(); s != tt.in {
				t.Errorf("ParseRequestSignature(%q).String() = %q, want the input", tt.in, s)
			}
		})
	}

	sigStd := strings.NewReplacer("-", "+", "_", "/").Replace(s)
	if sigStd == s {
		t.Fatal("test signature has no URL-specific characters")
	}
	invalid := []struct{ name, in string }{
		{"empty", ""},
		{"version only", "v1"},
		{"v2", "v2" + strings.TrimPrefix(hdr(id, "1", "1", d, s), "v1")},
		{"V1", "V1" + strings.TrimPrefix(hdr(id, "1", "1", d, s), "v1")},
		{"fields reordered", "v1;e=1;id=" + id + ";n=1;d=" + d + ";s=" + s},
		{"field missing", "v1;id=" + id + ";e=1;d=" + d + ";s=" + s},
		{"extra field", hdr(id, "1", "1", d, s) + ";x=1"},
		{"trailing semicolon", hdr(id, "1", "1", d, s) + ";"},
		{"space after semicolon", strings.ReplaceAll(hdr(id, "1", "1", d, s), ";", "; ")},
		{"leading space", " " + hdr(id, "1", "1", d, s)},
		{"upper-case key", strings.Replace(hdr(id, "1", "1", d, s), "id=", "ID=", 1)},
		{"bad id", hdr("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2do0", "1", "1", d, s)},
		{"did:web id", hdr("did:web:example.com", "1", "1", d, s)},
		{"empty id", hdr("", "1", "1", d, s)},
		{"epoch empty", hdr(id, "", "1", d, s)},
		{"epoch leading zero", hdr(id, "01", "1", d, s)},
		{"epoch 00", hdr(id, "00", "1", d, s)},
		{"epoch plus", hdr(id, "+1", "1", d, s)},
		{"epoch minus", hdr(id, "-1", "1", d, s)},
		{"epoch hex", hdr(id, "0x1", "1", d, s)},
		{"epoch underscore", hdr(id, "1_0", "1", d, s)},
		{"epoch overflow", hdr(id, "18446744073709551616", "1", d, s)},
		{"epoch 20 nines", hdr(id, "99999999999999999999", "1", d, s)},
		{"epoch 21 digits", hdr(id, "100000000000000000000", "1", d, s)},
		{"epoch space", hdr(id, "1 ", "1", d, s)},
		{"seq leading zero", hdr(id, "1", "007", d, s)},
		{"seq empty", hdr(id, "1", "", d, s)},
		{"seq overflow", hdr(id, "1", "18446744073709551616", d, s)},
		{"seq unicode digit", hdr(id, "1", "١", d, s)},
		{"digest upper case", hdr(id, "1", "1", strings.ToUpper(d), s)},
		{"digest short", hdr(id, "1", "1", d[:63], s)},
		{"digest long", hdr(id, "1", "1", d+"0", s)},
		{"digest not hex", hdr(id, "1", "1", "g"+d[1:], s)},
		{"digest empty", hdr(id, "1", "1", "", s)},
		{"sig padded", hdr(id, "1", "1", d, s+"==")},
		{"sig std alphabet", hdr(id, "1", "1", d, sigStd)},
		{"sig short", hdr(id, "1", "1", d, s[:85])},
		{"sig long", hdr(id, "1", "1", d, s+"A")},
		{"sig 63 bytes", hdr(id, "1", "1", d, sigEncoding.EncodeToString(sig[:63]))},
		{"sig 65 bytes", hdr(id, "1", "1", d, sigEncoding.EncodeToString(append(sig, 0)))},
		{"sig trailing bits", hdr(id, "1", "1", d, s[:85]+"B")}, // 'B' sets one of the 4 unused low bits
		{"sig newline", hdr(id, "1", "1", d, s[:40]+"\n"+s[41:])},
		{"sig empty", hdr(id, "1", "1", d, "")},
		{"too long", hdr(id, "1", "1", d, s) + strings.Repeat(";", 300)},
		{"oversized", strings.Repeat("a", 100000)},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequestSignature(tt.in)
			if !errors.Is(err, ErrBadRequestSignature) {
				t.Errorf("ParseRequestSignature(%q) = %+v, %v, want %v", tt.in, got, err, ErrBadRequestSignature)
			}
		})
	}
}

func FuzzParseRequestSignature(f *testing.F) {
	valid := validHeader(f)
	f.Add(valid)
	f.Add("")
	f.Add("v1")
	f.Add("v1;id=;e=;n=;d=;s=")
	f.Add(strings.Replace(valid, ";e=12;", ";e=012;", 1))
	f.Add(strings.Replace(valid, ";n=1;", ";n=18446744073709551616;", 1))
	f.Add(strings.Replace(valid, ";n=1;", ";n=18446744073709551615;", 1))
	f.Add(valid[:len(valid)-1])
	f.Add(valid + "=")
	f.Add(valid + ";")
	f.Add(strings.ToUpper(valid))
	f.Add(strings.Replace(valid, "v1;", "v2;", 1))
	// Each field broken on its own: the id, the digest's case, the
	// signature's alphabet and padding, a line break, the length bound.
	f.Add(strings.Replace(valid, "id=did:key:z", "id=did:key:x", 1))
	d := BodyDigest(nil)
	f.Add(strings.Replace(valid, d, strings.ToUpper(d), 1))
	f.Add(valid[:len(valid)-2] + "+/")
	f.Add(valid[:len(valid)-2] + "\r\n")
	f.Add(valid + strings.Repeat("A", 512-len(valid)))
	f.Add(strings.Replace(valid, ";n=1;", ";n=-1;", 1))
	f.Add(strings.Replace(valid, ";e=12;", ";e= 12;", 1))
	f.Fuzz(func(t *testing.T, header string) {
		r, err := ParseRequestSignature(header)
		if err != nil {
			if !errors.Is(err, ErrBadRequestSignature) {
				t.Fatalf("ParseRequestSignature(%q) = %v, want an error wrapping %v", header, err, ErrBadRequestSignature)
			}
			return
		}
		if got := r.String(); got != header {
			t.Fatalf("ParseRequestSignature(%q).String() = %q, want the input", header, got)
		}
		again, err := ParseRequestSignature(r.String())
		if err != nil {
			t.Fatalf("ParseRequestSignature(String()) = %v, want nil", err)
		}
		if diff := cmp.Diff(r, again); diff != "" {
			t.Fatalf("ParseRequestSignature(String()) mismatch (-want +got):\n%s", diff)
		}
	})
}

type replayStep struct {
	id      NodeID
	epoch   uint64
	seq     uint64
	wantErr error
}

func TestReplayGuard(t *testing.T) {
	t.Parallel()
	const a, b NodeID = "did:key:test-a", "did:key:test-b"
	steps := []replayStep{
		{a, 1, 5, nil},
		{a, 1, 3, nil},         // out of order within window
		{a, 1, 5, ErrReplay},   // repeat of newest
		{a, 1, 3, ErrReplay},   // repeat of older
		{a, 1, 6, nil},         // next
		{a, 1, 12, nil},        // window now 5..12
		{a, 1, 5, ErrReplay},   // seen seq survives the move
		{a, 1, 4, ErrReplay},   // below window (12-4 = 8)
		{a, 1, 7, nil},         // skipped seq, still in window
		{a, 1, 11, nil},        // skipped seq, still in window
		{a, 1, 7, ErrReplay},   //
		{a, 1, 100, nil},       // jump past the whole window
		{a, 1, 93, nil},        // 100-93 = 7: in window
		{a, 1, 92, ErrReplay},  // below window
		{a, 1, 12, ErrReplay},  // seen and far below
		{b, 1, 5, nil},         // senders are independent
		{b, 1, 0, nil},         // seq 0 is a seq like any other
		{b, 1, 0, ErrReplay},   //
		{a, 0, 200, ErrReplay}, // older epoch
		{a, 2, 1, nil},         // newer epoch resets the window
		{a, 2, 1, ErrReplay},   //
		{a, 1, 101, ErrReplay}, // previous epoch is now old
		{a, 2, 2, nil},         //
		{a, 5, 50, nil},        // epochs may skip
		{a, 5, 43, nil},        //
		{a, 5, 42, ErrReplay},  //
		{b, math.MaxUint64, math.MaxUint64, nil},
		{b, math.MaxUint64, math.MaxUint64 - 7, nil},
		{b, math.MaxUint64, math.MaxUint64 - 8, ErrReplay},
		{b, math.MaxUint64, math.MaxUint64, ErrReplay},
	}
	g := NewReplayGuard(8, 10, nil)
	for i, s := range steps {
		r := SignedRequest{ID: s.id, Epoch: s.epoch, Seq: s.seq}
		if err := g.Check(t.Context(), r); !errors.Is(err, s.wantErr) || (err != nil) != (s.wantErr != nil) {
			t.Errorf("step %d: Check(%s, e=%d, n=%d) = %v, want %v", i, s.id, s.epoch, s.seq, err, s.wantErr)
		}
	}
}

func TestReplayGuardDefaults(t *testing.T) {
	t.Parallel()
	g := NewReplayGuard(0, -1, nil)
	if g.window != DefaultReplayWindow || g.maxSenders != DefaultReplaySenders {
		t.Errorf("NewReplayGuard(0, -1, nil) window, maxSenders = %d, %d, want %d, %d",
			g.window, g.maxSenders, DefaultReplayWindow, DefaultReplaySenders)
	}
	const id NodeID = "did:key:test"
	for _, s := range []replayStep{
		{id, 1, 2000, nil},
		{id, 1, 2000 - DefaultReplayWindow + 1, nil},
		{id, 1, 2000 - DefaultReplayWindow, ErrReplay},
	} {
		if err := g.Check(t.Context(), SignedRequest{ID: s.id, Epoch: s.epoch, Seq: s.seq}); !errors.Is(err, s.wantErr) {
			t.Errorf("Check(e=%d, n=%d) = %v, want %v", s.epoch, s.seq, err, s.wantErr)
		}
	}
}

// replayModel is an obviously correct ReplayGuard for one sender.
type replayModel struct {
	window  uint64
	started bool
	epoch   uint64
	top     uint64
	seen    map[uint64]bool
}

func (m *replayModel) check(epoch, seq uint64) bool {
	switch {
	case !m.started || epoch > m.epoch:
		m.started, m.epoch, m.top, m.seen = true, epoch, seq, map[uint64]bool{seq: true}
		return true
	case epoch < m.epoch:
		return false
	case m.seen[seq] || (seq < m.top && m.top-seq >= m.window):
		return false
	}
	m.seen[seq] = true
	m.top = max(m.top, seq)
	return true
}

// TestReplayGuardModel compares the bitmap window with a set of every seq,
// over random walks around the window edge.
func TestReplayGuardModel(t *testing.T) {
	t.Parallel()
	for _, window := range []int{1, 7, 64, 65, 200} {
		t.Run(fmt.Sprint(window), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(window), 1))
			g := NewReplayGuard(window, 1, nil)
			m := &replayModel{window: uint64(window)}
			epoch, seq := uint64(1), uint64(0)
			for i := range 20000 {
				switch x := rng.IntN(100); {
				case x < 2:
					epoch++
				case x < 3 && epoch > 0:
					epoch--
				case x < 60:
					seq += uint64(rng.IntN(3*window + 2))
				default:
					seq -= min(seq, uint64(rng.IntN(2*window+2)))
				}
				want := m.check(epoch, seq)
				err := g.Check(t.Context(), SignedRequest{ID: "did:key:test", Epoch: epoch, Seq: seq})
				if got := err == nil; got != want {
					t.Fatalf("step %d: Check(e=%d, n=%d) = %v, model accepts: %v", i, epoch, seq, err, want)
				}
				if err != nil && !errors.Is(err, ErrReplay) {
					t.Fatalf("step %d: Check(e=%d, n=%d) = %v, want %v", i, epoch, seq, err, ErrReplay)
				}
			}
		})
	}
}

// TestReplayGuardFull fills a guard: a new sender is then refused with
// ErrTooManySenders, while every sender it holds is still remembered (a
// flood of strangers never makes a replay pass).
func TestReplayGuardFull(t *testing.T) {
	t.Parallel()
	const a, b, c NodeID = "did:key:test-a", "did:key:test-b", "did:key:test-c"
	g := NewReplayGuard(8, 2, nil)
	for i, s := range []replayStep{
		{a, 1, 1, nil},
		{b, 1, 1, nil},
		{c, 1, 1, ErrTooManySenders}, // full: refused, nothing forgotten
		{a, 1, 1, ErrReplay},
		{b, 1, 1, ErrReplay},
		{a, 1, 2, nil},               // known senders go on
		{c, 1, 2, ErrTooManySenders}, // still refused
	} {
		if err := g.Check(t.Context(), SignedRequest{ID: s.id, Epoch: s.epoch, Seq: s.seq}); !errors.Is(err, s.wantErr) || (err != nil) != (s.wantErr != nil) {
			t.Errorf("step %d: Check(%s, e=%d, n=%d) = %v, want %v", i, s.id, s.epoch, s.seq, err, s.wantErr)
		}
		if n := g.Len(); n != 2 && i > 0 {
			t.Errorf("step %d: guard holds %d senders, want 2", i, n)
		}
	}

	big := NewReplayGuard(8, 10, nil)
	if err := big.Check(t.Context(), SignedRequest{ID: a, Epoch: 1, Seq: 1}); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		err := big.Check(t.Context(), SignedRequest{ID: NodeID(fmt.Sprint("did:key:stranger-", i)), Epoch: 1, Seq: 1})
		if wantFull := i >= 9; wantFull != errors.Is(err, ErrTooManySenders) || (!wantFull && err != nil) {
			t.Fatalf("Check(stranger %d) = %v, want full: %v", i, err, wantFull)
		}
	}
	if err := big.Check(t.Context(), SignedRequest{ID: a, Epoch: 1, Seq: 1}); !errors.Is(err, ErrReplay) {
		t.Errorf("replay after 1000 strangers = %v, want %v", err, ErrReplay)
	}
	if n := big.Len(); n != 10 {
		t.Errorf("after 1000 strangers guard holds %d senders, want 10", n)
	}
}

// savedStates is a ReplayGuard's save function over a map, as a node's
// table is; fail makes the next saves fail.
type savedStates struct {
	mu     sync.Mutex
	states map[NodeID]ReplayState
	fail   bool
}

func (s *savedStates) save(_ context.Context, st ReplayState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("disk on fire")
	}
	if s.states == nil {
		s.states = map[NodeID]ReplayState{}
	}
	s.states[st.ID] = st
	return nil
}

// restore returns a new guard that restored every saved state.
func (s *savedStates) restore(window, maxSenders int) *ReplayGuard {
	g := NewReplayGuard(window, maxSenders, s.save)
	for _, st := range s.states {
		g.Restore(st)
	}
	return g
}

// TestReplayGuardRestore saves every accepted request, restores a new guard
// from what was saved, and checks that it decides as the first one would
// have: a replay stays a replay, a new seq is still accepted.
func TestReplayGuardRestore(t *testing.T) {
	t.Parallel()
	const a, b NodeID = "did:key:test-a", "did:key:test-b"
	var saved savedStates
	g := NewReplayGuard(8, 2, saved.save)
	for _, s := range []replayStep{{a, 1, 5, nil}, {a, 1, 3, nil}, {a, 1, 9, nil}, {b, 4, 0, nil}} {
		if err := g.Check(t.Context(), SignedRequest{ID: s.id, Epoch: s.epoch, Seq: s.seq}); err != nil {
			t.Fatalf("Check(%s, %d, %d) = %v", s.id, s.epoch, s.seq, err)
		}
	}
	after := saved.restore(8, 2)
	for i, s := range []replayStep{
		{a, 1, 9, ErrReplay},
		{a, 1, 5, ErrReplay},
		{a, 1, 3, ErrReplay}, // in the window (9-3 < 8) and seen
		{a, 1, 1, ErrReplay}, // below window
		{a, 1, 4, nil},       // in window, never seen
		{a, 1, 10, nil},
		{a, 0, 99, ErrReplay},
		{b, 4, 0, ErrReplay}, // seq 0 restored as seen
		{b, 4, 1, nil},
		{"did:key:test-c", 1, 1, ErrTooManySenders}, // restored senders count
	} {
		if err := after.Check(t.Context(), SignedRequest{ID: s.id, Epoch: s.epoch, Seq: s.seq}); !errors.Is(err, s.wantErr) || (err != nil) != (s.wantErr != nil) {
			t.Errorf("step %d after restore: Check(%s, e=%d, n=%d) = %v, want %v", i, s.id, s.epoch, s.seq, err, s.wantErr)
		}
	}

	// A failed save refuses the request and changes nothing.
	saved.fail = true
	if err := after.Check(t.Context(), SignedRequest{ID: a, Epoch: 1, Seq: 11}); err == nil || errors.Is(err, ErrReplay) {
		t.Errorf("Check with a failing save = %v, want the save's error", err)
	}
	saved.fail = false
	if err := after.Check(t.Context(), SignedRequest{ID: a, Epoch: 1, Seq: 11}); err != nil {
		t.Errorf("Check after the save works again = %v, want nil: the failed check must not have counted", err)
	}

	// A state saved with another window refuses every seq up to its top.
	other := NewReplayGuard(16, 2, nil)
	other.Restore(saved.states[a])
	for seq, want := range map[uint64]error{11: ErrReplay, 10: ErrReplay, 4: ErrReplay, 12: nil} {
		if err := other.Check(t.Context(), SignedRequest{ID: a, Epoch: 1, Seq: seq}); !errors.Is(err, want) || (err != nil) != (want != nil) {
			t.Errorf("restored into a wider window: Check(e=1, n=%d) = %v, want %v", seq, err, want)
		}
	}
}

// FuzzReplayRestore restores a saved state from arbitrary bytes: Restore
// never panics, and a guard restored from what another guard saved decides
// every later request as that guard does.
func FuzzReplayRestore(f *testing.F) {
	f.Add(uint64(1), uint64(5), []byte{0x20, 0, 0, 0, 0, 0, 0, 0}, []byte{5, 3, 9, 1, 200, 4})
	f.Add(uint64(0), uint64(0), []byte{}, []byte{0, 0})
	f.Add(uint64(math.MaxUint64), uint64(math.MaxUint64), []byte{0xff}, []byte{255, 254, 0})
	f.Fuzz(func(t *testing.T, epoch, top uint64, seen, seqs []byte) {
		const window = 64
		var saved savedStates
		g := NewReplayGuard(window, 1, saved.save)
		g.Restore(ReplayState{ID: "did:key:test", Epoch: epoch, Top: top, Window: window, Seen: seen})
		for _, s := range seqs {
			// Around the restored top, so the window edge is exercised.
			g.Check(t.Context(), SignedRequest{ID: "did:key:test", Epoch: epoch, Seq: top - 128 + uint64(s)})
		}
		if len(saved.states) == 0 {
			return
		}
		again := saved.restore(window, 1)
		for _, s := range seqs {
			r := SignedRequest{ID: "did:key:test", Epoch: epoch, Seq: top - 64 + uint64(s)}
			want, got := g.Check(t.Context(), r), again.Check(t.Context(), r)
			if (want == nil) != (got == nil) {
				t.Fatalf("Check(n=%d): saved guard %v, restored guard %v", r.Seq, want, got)
			}
		}
	})
}

// TestReplayGuardConcurrent has goroutines race to submit the same requests;
// each must be accepted exactly once. Run with -race.
func TestReplayGuardConcurrent(t *testing.T) {
	t.Parallel()
	const window, senders, goroutines = 256, 4, 8
	g := NewReplayGuard(window, senders, nil)
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for w := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for _, i := range rng.Perm(window * senders) {
				id := NodeID(fmt.Sprint("did:key:test-", i%senders))
				seq := uint64(i/senders) + 1
				switch err := g.Check(t.Context(), SignedRequest{ID: id, Epoch: 1, Seq: seq}); {
				case err == nil:
					accepted.Add(1)
				case !errors.Is(err, ErrReplay):
					t.Errorf("Check(%s, 1, %d) = %v, want nil or %v", id, seq, err, ErrReplay)
				}
			}
		})
	}
	wg.Wait()
	if got, want := accepted.Load(), int64(window*senders); got != want {
		t.Errorf("accepted %d requests, want %d (each once)", got, want)
	}
}
