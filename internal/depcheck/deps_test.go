package depcheck

import (
	"bytes"
	"encoding/json"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/offgrid-net/offgrid"

// layer ranks project packages: a package may import only packages of a
// lower layer, so no two packages of one layer import each other (the
// domain packages, the engine's parts). Packages not listed are test-only
// helpers. docs/architecture.md explains each layer.
var layer = map[string]int{
	"cmd/offgrid": 8,
	// Developer tools, run with go run; they import no project package.
	"scripts/benchsum":  8,
	"scripts/typecheck": 8,
	"server":            7,
	"api":               6,
	"web":               6,
	// Above the engine, below its HTTP faces: the generated server, the
	// HTTP transports the engine is given, the error contract.
	"api/genserver": 5,
	"peerclient":    5,
	"problem":       5,
	"node":          4,
	// The engine's parts, and what they share.
	"node/peers":      3,
	"node/assets":     3,
	"node/trust":      3,
	"node/ledgersync": 3,
	"node/economy":    3,
	"node/jobs":       3,
	"node/history":    3,
	"node/events":     2,
	"node/nodeerr":    2,
	// Domain packages: plain logic and their own tables.
	"ledger":           1,
	"cluster":          1,
	"quorum":           1,
	"economy":          1,
	"storage":          1,
	"radio":            1,
	"radio/udp":        1,
	"radio/filebus":    1,
	"radio/lora":       1,
	"radio/ble":        1,
	"radio/meshhealth": 1,
	"radio/noise":      1,
	"compute":          1,
	"broker":           1,
	// Leaves.
	"":                  0, // the module root: the embedded openapi.yaml
	"identity":          0,
	"api/gen":           0,
	"internal/sqlitedb": 0,
	"internal/fixed":    0,
	"internal/backoff":  0,
	"internal/periodic": 0,
	// Below the leaves: helpers identity and the domain packages share.
	"internal/atomicfile": -1,
	"internal/canon":      -1,
}

// domainEdges are the only imports allowed between domain packages: money
// is paid for receipts (ledger) under the witnesses and rules of the
// cluster document (cluster).
var domainEdges = map[string][]string{"economy": {"ledger", "cluster"}}

// testOnly packages may be imported by tests only.
var testOnly = []string{"internal/testutil", "server/servertest", "internal/depcheck", "radio/radiotest", "radio/ble/bluetest",
	"compute/computetest"}

// forbiddenExternal lists imports a package must not make directly, and why.
var forbiddenExternal = map[string][]string{
	// The engine knows nothing of HTTP routing, HTML or websockets; it
	// reaches other nodes only through the generated client.
	"node": {"net/http", "github.com/go-chi/chi/v5", "github.com/a-h/templ", "github.com/gorilla/websocket"},
	// Domain packages are plain logic and storage; no HTTP.
	"ledger":  {"net/http", "github.com/go-chi/chi/v5"},
	"cluster": {"net/http", "github.com/go-chi/chi/v5"},
	"storage": {"net/http", "github.com/go-chi/chi/v5"},
	"economy": {"net/http", "github.com/go-chi/chi/v5"},
	"radio":   {"net/http", "github.com/go-chi/chi/v5"},
	"quorum":  {"net/http", "github.com/go-chi/chi/v5"},
	"compute": {"net/http", "github.com/go-chi/chi/v5"},
	"broker":  {"net/http", "github.com/go-chi/chi/v5"},
	// The engine's parts reach other nodes only through interfaces.
	"node/ledgersync": {"net/http", "github.com/go-chi/chi/v5", "github.com/a-h/templ", "github.com/gorilla/websocket"},
}

type pkg struct {
	ImportPath string
	Dir        string
	Imports    []string
	GoFiles    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

func TestImportDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		from := rel(p.ImportPath)
		fromLayer, known := layer[from]
		if !known && !slices.Contains(testOnly, from) {
			t.Errorf("package %s has no layer: add it to depcheck's table (and to docs/architecture.md)", from)
			continue
		}
		for _, imp := range p.Imports {
			// A package inherits the rules of its top directory (node/peers: node).
			top, _, _ := strings.Cut(from, "/")
			for _, bad := range forbiddenExternal[top] {
				if imp == bad {
					t.Errorf("%s imports %s: not allowed (see docs/architecture.md)", from, imp)
				}
			}
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to := rel(imp)
			if slices.Contains(testOnly, to) {
				t.Errorf("%s imports test-only package %s outside tests", from, to)
				continue
			}
			if !known {
				continue
			}
			toLayer, ok := layer[to]
			switch {
			case !ok:
				t.Errorf("%s imports %s, which has no layer", from, to)
			case strings.HasPrefix(from, to+"/") && fromLayer == 1:
				// A transport (radio/udp) may use its parent (radio).
			case fromLayer == 1 && toLayer == 1 && slices.Contains(domainEdges[from], to):
			case toLayer >= fromLayer:
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must point down", from, fromLayer, to, toLayer)
			case fromLayer == 1 && toLayer == 1:
				t.Errorf("domain package %s imports domain package %s", from, to)
			}
		}
	}
}

// engineForbidden lists what no engine or domain package may depend on,
// even through another package: routing, HTML, websockets, the OpenAPI
// loader and any generated API code. The engine reaches other nodes
// through interfaces that peerclient implements.
var engineForbidden = []string{
	"github.com/go-chi/chi/v5",
	"github.com/a-h/templ",
	"github.com/gorilla/websocket",
	"github.com/getkin/kin-openapi/openapi3",
	module + "/api/gen",
	module + "/api/genserver",
	module + "/api",
	module + "/web",
	module + "/server",
	module + "/peerclient",
}

// TestEngineDependencies checks the transitive imports of node, its parts
// and the domain packages (layers 1 to 4).
func TestEngineDependencies(t *testing.T) {
	var engine []string
	for from, l := range layer {
		if l >= 1 && l <= 4 {
			engine = append(engine, module+"/"+from)
		}
	}
	slices.Sort(engine)
	for _, p := range engine {
		cmd := exec.Command("go", "list", "-deps", p)
		cmd.Dir = "../.."
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", p, err)
		}
		deps := strings.Fields(string(out))
		for _, bad := range engineForbidden {
			if slices.Contains(deps, bad) {
				t.Errorf("%s depends on %s (through some import): the engine and the domain packages must not (see docs/architecture.md)", rel(p), bad)
			}
		}
	}
}

var generated = regexp.MustCompile(`(?m)^Code generated .* DO NOT EDIT\.$`)

// TestPackageDocs: every package has exactly one package comment, in doc.go.
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		var withDoc []string
		for _, f := range p.GoFiles {
			path := filepath.Join(p.Dir, f)
			file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatalf("parse %s: %v", path, err)
			}
			// Generators write their own package comments; skip those files.
			if file.Doc == nil || generated.MatchString(file.Doc.Text()) {
				continue
			}
			withDoc = append(withDoc, f)
		}
		if len(withDoc) != 1 || withDoc[0] != "doc.go" {
			t.Errorf("package %s: package comment in %v, want exactly one, in doc.go", rel(p.ImportPath), withDoc)
		}
	}
}
