package problem_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/problem"
	"github.com/offgrid-net/offgrid/server/servertest"
	"github.com/offgrid-net/offgrid/web"
)

// nodeErrorNames parses package node's source and returns the names of its
// exported Err* variables, so that a new error without a row in the
// contract table fails the test.
func nodeErrorNames(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../node/*.go")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", path, err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, s := range g.Specs {
				for _, id := range s.(*ast.ValueSpec).Names {
					if id.IsExported() && strings.HasPrefix(id.Name, "Err") {
						names = append(names, "node."+id.Name)
					}
				}
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("found no exported Err* variables in ../node")
	}
	slices.Sort(names)
	return names
}

// failing is a real node whose PutAsset and OpenAsset fail with err. It is
// how the contract test has the dashboard answer every error: most of them
// cannot happen on those calls, and the dashboard's own tests cover the
// ones that can, on a real node.
type failing struct {
	*node.Node
	err error
}

func (f failing) PutAsset(context.Context, io.Reader, node.PutOptions) (node.Asset, error) {
	return node.Asset{}, f.err
}

func (f failing) OpenAsset(context.Context, string) (io.ReadCloser, node.Asset, error) {
	return nil, node.Asset{}, f.err
}

// TestContract lists every exported error of package node, identity's
// request-signature errors, an oversize body and the HTTP layer's own
// errors with the status they get, and checks that the API's problem
// writer and the dashboard answer each with that status.
func TestContract(t *testing.T) {
	testutil.CheckGoroutines(t)
	tests := []struct {
		name   string
		err    error
		status int
	}{
		{"node.ErrInvalid", node.ErrInvalid, http.StatusBadRequest},
		{"node.ErrNotFound", node.ErrNotFound, http.StatusNotFound},
		{"node.ErrInactive", node.ErrInactive, http.StatusConflict},
		{"node.ErrConflict", node.ErrConflict, http.StatusConflict},
		{"node.ErrBusy", node.ErrBusy, http.StatusServiceUnavailable},
		{"node.ErrTooLarge", node.ErrTooLarge, http.StatusRequestEntityTooLarge},
		{"node.ErrCorrupt", node.ErrCorrupt, http.StatusGone},
		{"node.ErrUnavailable", node.ErrUnavailable, http.StatusServiceUnavailable},
		{"node.ErrStopped", node.ErrStopped, http.StatusServiceUnavailable},
		{"node.ErrBadSignature", node.ErrBadSignature, http.StatusUnauthorized},
		{"node.ErrNoSpace", node.ErrNoSpace, http.StatusInsufficientStorage},
		{"ENOSPC", &os.PathError{Op: "write", Path: "shards/tmp/shard-1", Err: syscall.ENOSPC}, http.StatusInsufficientStorage},
		{"node.ErrNotMember", node.ErrNotMember, http.StatusForbidden},
		{"node.ErrForbidden", node.ErrForbidden, http.StatusForbidden},
		{"TooManyRequests", fmt.Errorf("check token: %w", &problem.TooManyRequests{Wait: time.Second, Reason: "wait"}), http.StatusTooManyRequests},
		{"identity.ErrBadRequestSignature", identity.ErrBadRequestSignature, http.StatusUnauthorized},
		{"identity.ErrReplay", identity.ErrReplay, http.StatusUnauthorized},
		{"identity.ErrTooManySenders", identity.ErrTooManySenders, http.StatusForbidden},
		{"*http.MaxBytesError", &http.MaxBytesError{Limit: 1 << 20}, http.StatusRequestEntityTooLarge},
		{"problem.ErrBadRequest", problem.ErrBadRequest, http.StatusBadRequest},
		{"problem.ErrUnauthorized", problem.ErrUnauthorized, http.StatusUnauthorized},
		{"problem.ErrBadBody", problem.ErrBadBody, http.StatusBadRequest},
		{"problem.ErrSlowBody", problem.ErrSlowBody, http.StatusRequestTimeout},
		{"internal", errors.New("sqlite: disk I/O error at sector 7"), http.StatusInternalServerError},
	}
	var rows []string
	for _, tt := range tests {
		if strings.HasPrefix(tt.name, "node.") {
			rows = append(rows, tt.name)
		}
	}
	slices.Sort(rows)
	if diff := cmp.Diff(nodeErrorNames(t), rows); diff != "" {
		t.Errorf("node's exported errors and the table's node rows differ (-node +table):\n%s", diff)
	}

	tn := servertest.Start(t, servertest.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fmt.Errorf("put photo.jpg: %w", tt.err)
			public := tt.status != http.StatusInternalServerError
			if got := problem.Classify(err); got.Status != tt.status || got.Public != public {
				t.Errorf("Classify(%q) = %d public %v, want %d public %v", err, got.Status, got.Public, tt.status, public)
			}
			api := apiAnswer(t, err)
			if api != tt.status {
				t.Errorf("API answers %q with %d, want %d", err, api, tt.status)
			}
			h, err2 := web.New(web.Config{Node: failing{Node: tn.Node, err: err}})
			if err2 != nil {
				t.Fatal(err2)
			}
			cookie := login(t, h.Routes())
			for _, req := range []*http.Request{
				httptest.NewRequest("POST", "/ui/assets?name=photo.jpg", strings.NewReader("hello")),
				httptest.NewRequest("GET", "/ui/assets/a0123/download", nil),
			} {
				req.Header.Set("Cookie", cookie)
				req.Header.Set("Content-Type", "application/octet-stream")
				rec := httptest.NewRecorder()
				h.Routes().ServeHTTP(rec, req)
				if rec.Code != api {
					t.Errorf("dashboard %s %s answers %q with %d, the API with %d", req.Method, req.URL.Path, err, rec.Code, api)
				}
				if body := rec.Body.String(); !public && strings.Contains(body, "sector 7") {
					t.Errorf("dashboard %s %s shows the internal error's text:\n%s", req.Method, req.URL.Path, body)
				}
			}
		})
	}
}

// apiAnswer writes err as the API does and checks the problem response
// around its status, which it returns.
func apiAnswer(t *testing.T, err error) int {
	t.Helper()
	rec := httptest.NewRecorder()
	problem.Write(slog.New(slog.DiscardHandler), rec, httptest.NewRequest("PUT", "/shards/a/0", nil), err)
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var p struct {
		Type, Title, Detail, Instance string
		Status                        int
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", rec.Body, err)
	}
	wantDetail := err.Error()
	if rec.Code == http.StatusInternalServerError {
		wantDetail = "internal error; see the node's log"
	}
	want := struct {
		Type, Title, Detail, Instance string
		Status                        int
	}{"about:blank", http.StatusText(rec.Code), wantDetail, "/shards/a/0", rec.Code}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("problem body mismatch (-want +got):\n%s", diff)
	}
	wantHeaders := map[string]string{"Retry-After": "", "WWW-Authenticate": ""}
	switch rec.Code {
	case http.StatusServiceUnavailable:
		wantHeaders["Retry-After"] = strconv.Itoa(problem.RetryAfterSeconds)
	case http.StatusUnauthorized:
		wantHeaders["WWW-Authenticate"] = `Bearer realm="offgrid"`
	case http.StatusTooManyRequests:
		wantHeaders["Retry-After"] = "1" // the table's wait, rounded up
	}
	for k, want := range wantHeaders {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	return rec.Code
}

// login logs in to the dashboard h and returns the session's Cookie
// header value.
func login(t *testing.T, h http.Handler) string {
	t.Helper()
	req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"token": {servertest.AdminToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("POST /login = %d, set no session cookie", rec.Code)
	return ""
}

func TestReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("put: %w: 7 live hosts, 20 needed", node.ErrUnavailable), "7 live hosts, 20 needed"},
		{fmt.Errorf("resume: %w", node.ErrNotFound), "resume: not found"},
		{node.ErrStopped, "node stopped"},
		{fmt.Errorf("%w: k (12) must be less than n (8)", node.ErrInvalid), "k (12) must be less than n (8)"},
		{fmt.Errorf("read body: %w", &http.MaxBytesError{Limit: 10}), "read body: http: request body too large"},
		{errors.New("sqlite: disk I/O error"), ""},
	}
	for _, tt := range tests {
		if got := problem.Classify(tt.err).Reason; got != tt.want {
			t.Errorf("Classify(%q).Reason = %q, want %q", tt.err, got, tt.want)
		}
	}
}
