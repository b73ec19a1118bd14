package server_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/offgrid-net/offgrid/api"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/node"
	problemhttp "github.com/offgrid-net/offgrid/problem"
	"github.com/offgrid-net/offgrid/server/servertest"
	"github.com/offgrid-net/offgrid/storage"
)

// specOp is one operation of the spec with where it lives.
type specOp struct {
	id     string // openapi.yaml's operationId
	method string
	path   string
	params openapi3.Parameters // the path item's and the operation's
	op     *openapi3.Operation
}

// allOperations lists every operation of spec in a stable order.
func allOperations(spec *openapi3.T) []specOp {
	var ops []specOp
	for _, path := range spec.Paths.InMatchingOrder() {
		item := spec.Paths.Value(path)
		methods := item.Operations()
		for _, m := range slices.Sorted(func(yield func(string) bool) {
			for k := range methods {
				if !yield(k) {
					return
				}
			}
		}) {
			op := methods[m]
			params := append(slices.Clone(item.Parameters), op.Parameters...)
			id := strings.ToLower(op.OperationID[:1]) + op.OperationID[1:]
			ops = append(ops, specOp{id: id, method: m, path: path, params: params, op: op})
		}
	}
	return ops
}

// TestSpecBoundsEveryInput walks every parameter and request body of
// openapi.yaml, through every $ref, property, item and map value: each
// string must have a maxLength, an enum or an anchored pattern with a
// finite longest match; each integer a format, a minimum and a maximum;
// each number a minimum and a maximum; each array a maxItems; each map
// (additionalProperties) a maxProperties. The request validator then
// refuses oversize input before a handler sees it, and generated clients
// know the limits.
func TestSpecBoundsEveryInput(t *testing.T) {
	t.Parallel()
	spec, _ := loadSpec(t)
	var checked int
	for _, o := range allOperations(spec) {
		for _, p := range o.params {
			where := fmt.Sprintf("%s %s parameter %s (%s)", o.method, o.path, p.Value.Name, p.Value.In)
			if p.Value.Schema == nil {
				t.Errorf("%s has no schema", where)
				continue
			}
			for _, problem := range unbounded(p.Value.Schema, where, nil) {
				t.Error(problem)
			}
			checked++
		}
		if o.op.RequestBody == nil {
			continue
		}
		for ct, mt := range o.op.RequestBody.Value.Content {
			where := fmt.Sprintf("%s %s request body (%s)", o.method, o.path, ct)
			for _, problem := range unbounded(mt.Schema, where, nil) {
				t.Error(problem)
			}
			checked++
		}
	}
	if checked < 20 {
		t.Errorf("checked %d inputs, want the spec's 20 or more: is the walk broken?", checked)
	}
}

// unbounded returns what is unbounded in s, described from where. seen
// holds the schemas on the current path, so a recursive schema ends.
func unbounded(ref *openapi3.SchemaRef, where string, seen []*openapi3.Schema) []string {
	s := ref.Value
	if slices.Contains(seen, s) {
		return nil
	}
	seen = append(seen, s)
	var out []string
	fail := func(format string, args ...any) {
		out = append(out, where+": "+fmt.Sprintf(format, args...))
	}
	switch {
	case s.Type.Is(openapi3.TypeString):
		if len(s.Enum) == 0 && s.MaxLength == nil {
			if s.Pattern == "" {
				fail("string without maxLength, enum or pattern")
			} else if err := patternBounded(s.Pattern); err != nil {
				fail("string without maxLength or enum, and its pattern %q %v", s.Pattern, err)
			}
		}
	case s.Type.Is(openapi3.TypeInteger):
		if s.Format != "int32" && s.Format != "int64" {
			fail("integer without format int32 or int64")
		}
		if s.Min == nil || s.Max == nil {
			fail("integer without minimum and maximum")
		}
	case s.Type.Is(openapi3.TypeNumber):
		if s.Min == nil || s.Max == nil {
			fail("number without minimum and maximum")
		}
	case s.Type.Is(openapi3.TypeArray):
		if s.MaxItems == nil {
			fail("array without maxItems")
		}
		if s.Items != nil {
			out = append(out, unbounded(s.Items, where+"[]", seen)...)
		}
	case s.Type.Is(openapi3.TypeObject):
		for name, p := range s.Properties {
			out = append(out, unbounded(p, where+"."+name, seen)...)
		}
		if ap := s.AdditionalProperties; ap.Schema != nil || (ap.Has != nil && *ap.Has) {
			if s.MaxProps == nil {
				fail("map (additionalProperties) without maxProperties")
			}
			if ap.Schema != nil {
				out = append(out, unbounded(ap.Schema, where+".*", seen)...)
			}
		}
	case s.Type.Is(openapi3.TypeBoolean):
	default:
		fail("schema without a type (%v) cannot be bounded", s.Type)
	}
	for _, sub := range slices.Concat(s.AllOf, s.AnyOf, s.OneOf) {
		out = append(out, unbounded(sub, where, seen)...)
	}
	return out
}

// patternBounded returns nil if the regular expression pattern is anchored
// at both ends and its longest match is finite, so that it bounds the
// string's length. JSON Schema patterns match anywhere in the string, so
// an unanchored pattern bounds nothing.
func patternBounded(pattern string) error {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return fmt.Errorf("does not parse: %w", err)
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat || len(re.Sub) < 2 ||
		re.Sub[0].Op != syntax.OpBeginText || re.Sub[len(re.Sub)-1].Op != syntax.OpEndText {
		return fmt.Errorf("is not anchored with ^ and $")
	}
	if _, ok := longestMatch(re); !ok {
		return fmt.Errorf("matches strings of any length")
	}
	return nil
}

// longestMatch returns the longest string re can match, in runes, and
// false if there is no bound.
func longestMatch(re *syntax.Regexp) (int, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune), true
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1, true
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return 0, true
	case syntax.OpCapture, syntax.OpQuest:
		return longestMatch(re.Sub[0])
	case syntax.OpRepeat:
		n, ok := longestMatch(re.Sub[0])
		return n * re.Max, ok && re.Max >= 0
	case syntax.OpConcat, syntax.OpAlternate:
		total := 0
		for _, sub := range re.Sub {
			n, ok := longestMatch(sub)
			if !ok {
				return 0, false
			}
			if re.Op == syntax.OpConcat {
				total += n
			} else {
				total = max(total, n)
			}
		}
		return total, true
	default: // OpStar, OpPlus, OpNoMatch and anything new
		return 0, false
	}
}

func TestPatternBounded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		bounded bool
	}{
		{`^[0-9a-f]{64}$`, true},
		{`^[0-9]{1,13}(\.[0-9]{1,6})?$`, true},
		{`^([0-9a-f]{64}(,[0-9a-f]{64}){0,15})?$`, true},
		{`^(ec|rep)$`, true},
		{`[0-9a-f]{64}`, false},
		{`^[0-9a-f]{64}`, false},
		{`^[a-z]+$`, false},
		{`^[a-z]*$`, false},
		{`^[a-z]{2,}$`, false},
		{`^a$|^b$`, false},
		{`^(`, false},
	}
	for _, tt := range tests {
		if err := patternBounded(tt.pattern); (err == nil) != tt.bounded {
			t.Errorf("patternBounded(%q) = %v, want bounded %v", tt.pattern, err, tt.bounded)
		}
	}
}

// answeredFromMemory are operations that never reach the engine's
// database or disk, so they are never busy: they need not list 503.
var answeredFromMemory = map[string]bool{"getMetrics": true, "getOpenAPI": true, "getPubkeys": true}

// TestSpecNamesErrorAnswers checks that every operation lists the error
// answers it can give, beside the default (an internal error, or a Host
// the node does not answer to): 400 where it takes input; 401 where it is
// secured; 403 where a browser on another site could send it (the
// server's cross-origin refusal) or a node's signature is accepted (a
// node outside the cluster); 404 where a path names something that may
// not exist; 413 where it has a body; 503 with Retry-After where it asks
// the engine; 507 where it writes. TestContract checks, besides, that
// every status a live node answers is listed.
func TestSpecNamesErrorAnswers(t *testing.T) {
	t.Parallel()
	spec, _ := loadSpec(t)
	for _, o := range allOperations(spec) {
		secured := spec.Security
		if o.op.Security != nil {
			secured = *o.op.Security
		}
		var schemes []string
		for _, req := range secured {
			for name := range req {
				schemes = append(schemes, name)
			}
		}
		unsafe := o.method != http.MethodGet && o.method != http.MethodHead
		hasPathParam := slices.ContainsFunc(o.params, func(p *openapi3.ParameterRef) bool { return p.Value.In == "path" })
		want := map[string]bool{
			"400": len(o.params) > 0 || o.op.RequestBody != nil,
			"401": len(schemes) > 0,
			"403": unsafe || slices.Contains(schemes, "nodeSignature"),
			"404": hasPathParam && o.method != http.MethodPut,
			"413": o.op.RequestBody != nil,
			"503": !answeredFromMemory[o.id],
			"507": unsafe,
		}
		for code, needed := range want {
			if !needed {
				continue
			}
			r := o.op.Responses.Status(atoi(t, code))
			if r == nil {
				t.Errorf("%s (%s %s) does not list a %s answer", o.id, o.method, o.path, code)
				continue
			}
			if code == "503" && r.Value.Headers["Retry-After"] == nil {
				t.Errorf("%s (%s %s): its 503 answer has no Retry-After header", o.id, o.method, o.path)
			}
		}
		if !answeredFromMemory[o.id] && o.op.Responses.Default() == nil {
			t.Errorf("%s (%s %s) has no default answer for an internal error", o.id, o.method, o.path)
		}
	}
}

func atoi(t *testing.T, code string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(code, &n); err != nil {
		t.Fatalf("status %q: %v", code, err)
	}
	return n
}

// TestSpecAgreesWithHandlers compares the spec's bounds with the limits
// the API and the engine enforce themselves, so that a value the spec
// lets through is never refused by a handler for its size, and generated
// clients know the real limits.
func TestSpecAgreesWithHandlers(t *testing.T) {
	t.Parallel()
	spec, _ := loadSpec(t)
	ops := map[string]specOp{}
	for _, o := range allOperations(spec) {
		ops[o.id] = o
	}
	param := func(op, name string) *openapi3.Schema {
		for _, p := range ops[op].params {
			if p.Value.Name == name {
				return p.Value.Schema.Value
			}
		}
		t.Fatalf("operation %s has no parameter %s", op, name)
		return nil
	}
	body := func(op, contentType string) *openapi3.Schema {
		return ops[op].op.RequestBody.Value.Content[contentType].Schema.Value
	}
	u64 := func(p *uint64) float64 {
		if p == nil {
			return -1
		}
		return float64(*p)
	}
	f64 := func(p *float64) float64 {
		if p == nil {
			return -1
		}
		return *p
	}
	storeReq := body("storeShard", "application/json")
	metrics := body("runJob", "application/json").Properties["metrics"].Value
	tests := []struct {
		what      string
		spec, got float64
	}{
		{"putShard body maxLength = node.MaxShardBytesLimit", u64(body("putShard", "application/octet-stream").MaxLength), node.MaxShardBytesLimit},
		{"default MaxShardBytes = node.MaxShardBytesLimit", node.MaxShardBytesLimit, float64(node.DefaultConfig().MaxShardBytes)},
		{"storeShard data_b64 maxLength = base64 of node.MaxShardBytesLimit",
			u64(storeReq.Properties["data_b64"].Value.MaxLength), float64(base64.StdEncoding.EncodedLen(node.MaxShardBytesLimit))},
		{"putAsset shard_size maximum = node.MaxShardBytesLimit", f64(param("putAsset", "shard_size").Max), node.MaxShardBytesLimit},
		{"putAsset body maxLength = api.MaxAssetBytes", u64(body("putAsset", "application/octet-stream").MaxLength), api.MaxAssetBytes},
		{"putAsset k maximum = storage.MaxShards", f64(param("putAsset", "k").Max), storage.MaxShards},
		{"putAsset n maximum = storage.MaxShards", f64(param("putAsset", "n").Max), storage.MaxShards},
		{"putAsset r maximum = storage.MaxShards", f64(param("putAsset", "r").Max), storage.MaxShards},
		{"claimShards shards maxItems = storage.MaxClaimBatch",
			u64(body("claimShards", "application/json").Properties["shards"].Value.MaxItems), storage.MaxClaimBatch},
		{"importAsset shards maxItems = storage.MaxShareShards",
			u64(body("importAsset", "application/json").Properties["shards"].Value.MaxItems), storage.MaxShareShards},
		{"importAsset stripes maximum = storage.MaxShareShards",
			f64(body("importAsset", "application/json").Properties["stripes"].Value.Max), storage.MaxShareShards},
		{"runJob metrics maxProperties = node.MaxMetrics", u64(metrics.MaxProps), node.MaxMetrics},
		{"runJob metric maximum = node.MaxMetricValue", f64(metrics.AdditionalProperties.Schema.Value.Max), node.MaxMetricValue},
		{"Retry-After maximum covers problemhttp.RetryAfterSeconds",
			min(f64(spec.Components.Headers["RetryAfter"].Value.Schema.Value.Max), problemhttp.RetryAfterSeconds), problemhttp.RetryAfterSeconds},
	}
	for _, tt := range tests {
		if tt.spec != tt.got {
			t.Errorf("%s: spec says %v, code %v", tt.what, tt.spec, tt.got)
		}
	}

	// Prices and quoted sizes: the Amount pattern takes exactly the range
	// the node takes.
	amount := regexp.MustCompile(spec.Components.Schemas["Amount"].Value.Pattern)
	for _, tt := range []struct {
		v    string
		want bool
	}{
		{"0", true},
		{"0.000001", true},
		{fixed.Format(node.MaxPrice), true},
		{fixed.Format(node.MaxQuoteSize), true},
		{fixed.Format(node.MaxPrice) + ".000000", true},
		{fixed.Format(node.MaxPrice + 1), false},
		{fixed.Format(node.MaxQuoteSize + 1), false},
		{"-1", false},
		{"1.0000001", false},
	} {
		if got := amount.MatchString(tt.v); got != tt.want {
			t.Errorf("Amount pattern matches %q = %v, want %v", tt.v, got, tt.want)
		}
	}
	for _, ref := range []*openapi3.SchemaRef{
		spec.Components.Schemas["PricesUpdate"].Value.Properties["compute"],
		spec.Components.Schemas["PricesUpdate"].Value.Properties["storage"],
		param("getQuote", "size").NewRef(),
	} {
		if ref.Value.Pattern != amount.String() {
			t.Errorf("a price or quoted size has pattern %q, want Amount's", ref.Value.Pattern)
		}
	}
}

// TestPutAssetDeclaredTooLarge sends a put whose Content-Length is over
// the spec's limit: it is refused with 413 before any byte of the body is
// read, and nothing is stored.
func TestPutAssetDeclaredTooLarge(t *testing.T) {
	testutil.CheckGoroutines(t)
	tn := servertest.Start(t, servertest.Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(tn.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /assets HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\nonly a few bytes follow",
		strings.TrimPrefix(tn.URL, "http://"), servertest.AdminToken, int64(api.MaxAssetBytes)+1)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("POST /assets with Content-Length %d = %d, want 413", int64(api.MaxAssetBytes)+1, resp.StatusCode)
	}
	as, err := tn.Assets(t.Context())
	if err != nil || len(as) != 0 {
		t.Errorf("Assets() = %d assets, %v; want none", len(as), err)
	}
}
