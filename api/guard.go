package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/offgrid-net/offgrid/api/genserver"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/backoff"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/problem"
)

// Limits on request bodies other than streamed shard uploads.
const (
	maxJSONBody = 1 << 20
	// maxMergeBody bounds a merge of blocks, which is all or nothing and
	// so cannot be cut into requests of maxJSONBody.
	maxMergeBody = 64 << 20
	// MaxAssetBytes is the largest file one put takes: openapi.yaml's
	// maxLength of the putAsset body (a test compares them). No mesh of
	// Raspberry Pis moves that much in one put; the bound is there so that
	// every size has one.
	MaxAssetBytes = 1 << 40
)

// Caller is who made an authenticated request.
type Caller struct {
	// Admin is true for the node's admin token.
	Admin bool
	// Node is the calling node for a signed request.
	Node identity.NodeID
	// Digest is the body digest a signed request claims.
	Digest string
}

// String names the caller for records such as a shard's stored_by.
func (c Caller) String() string {
	if c.Admin {
		return node.AdminCaller
	}
	return string(c.Node)
}

type callerKey struct{}

// CallerFrom returns the authenticated caller of a request, if any.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// guard enforces each operation's security requirements and validates
// requests against the spec before the generated server sees them.
type guard struct {
	router    routers.Router
	node      *node.Node
	ownHost   func(hostport string) bool
	logins    *backoff.Limiter
	log       *slog.Logger
	maxStoreB int64
}

func newGuard(n *node.Node, ownHost func(string) bool, logins *backoff.Limiter, log *slog.Logger) (*guard, error) {
	router, err := specRouter()
	if err != nil {
		return nil, err
	}
	return &guard{
		router:  router,
		node:    n,
		ownHost: ownHost,
		logins:  logins,
		log:     log,
		// base64 grows data by 4/3; leave room for the JSON around it.
		maxStoreB: n.MaxShardBytes()/3*4 + 8<<10,
	}, nil
}

// specRouter routes requests to the operations of the embedded spec. The
// spec is parsed once per process: it never changes, the router only reads
// it, and parsing it is most of what starting a server costs (several
// nodes run in one process in tests).
var specRouter = sync.OnceValues(func() (routers.Router, error) {
	spec, err := genserver.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("load spec: %w", err)
	}
	// Match any host: the node is reached by many addresses.
	spec.Servers = nil
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		return nil, fmt.Errorf("route spec: %w", err)
	}
	return router, nil
})

// streamed reports operations whose bodies go straight to the shard store
// instead of being buffered for validation.
func streamed(op *openapi3.Operation) bool { return isOp(op, "putShard") || isOp(op, "putAsset") }

// isOp reports whether op is the operation with the given operationId from
// openapi.yaml. The embedded spec (genserver.GetSpec) carries oapi-codegen's
// Go names for them ("PutShard" for "putShard"), so compare without case.
// rawJobBody: a job's module and input, read whole (bounded) and checked
// by the handler, not by the spec's validator.
func rawJobBody(op *openapi3.Operation) bool { return isOp(op, "execJob") || isOp(op, "submitJob") }

func isOp(op *openapi3.Operation, id string) bool { return strings.EqualFold(op.OperationID, id) }

func (g *guard) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, params, err := g.router.FindRoute(r)
		if err != nil {
			// Not an API route: the router answers 404 or 405.
			next.ServeHTTP(w, r)
			return
		}
		op := route.Operation
		limit, bounded := g.bodyLimit(op)
		if bounded && r.ContentLength > limit {
			// Refuse before reading a byte: the sender said how much it sends.
			problem.Write(g.log, w, r, fmt.Errorf("%w: a body of %d bytes, at most %d accepted", node.ErrTooLarge, r.ContentLength, limit))
			return
		}
		if !isOp(op, "putShard") {
			// Cut off a body that runs past the limit (chunked, or lying);
			// the shard store checks a shard's size itself.
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		caller, err := g.authenticate(r, route)
		if err != nil {
			problem.Write(g.log, w, r, err)
			return
		}
		if err := canonicalIntegers(route, params, r); err != nil {
			problem.Write(g.log, w, r, err)
			return
		}
		err = openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
			Request:    r,
			PathParams: params,
			Route:      validationRoute(route),
			Options: &openapi3filter.Options{
				AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
				// Streamed bodies go to the store unread; they check their own limits.
				ExcludeRequestBody: streamed(op) || rawJobBody(op),
			},
		})
		if err != nil {
			problem.Write(g.log, w, r, validationErr(err))
			return
		}
		if caller != nil {
			r = r.WithContext(context.WithValue(r.Context(), callerKey{}, *caller))
		}
		if streamed(op) {
			r = r.WithContext(context.WithValue(r.Context(), contentLengthKey{}, r.ContentLength))
		}
		next.ServeHTTP(w, r)
	})
}

// canonicalDecimal is an integer written the one way: no sign but a minus,
// no leading zero, no space.
var canonicalDecimal = regexp.MustCompile(`^(0|-?[1-9][0-9]*)$`)

// canonicalIntegers refuses an integer parameter in the path or query that
// is not canonical decimal. The spec's validation takes "+1" and "01" for
// 1, so one shard would have several URLs (and a signature over one would
// not cover the others).
func canonicalIntegers(route *routers.Route, pathParams map[string]string, r *http.Request) error {
	var query url.Values
	for _, params := range []openapi3.Parameters{route.PathItem.Parameters, route.Operation.Parameters} {
		for _, ref := range params {
			p := ref.Value
			if p == nil || p.Schema == nil || p.Schema.Value == nil || !p.Schema.Value.Type.Is(openapi3.TypeInteger) {
				continue
			}
			var vals []string
			switch p.In {
			case openapi3.ParameterInPath:
				vals = []string{pathParams[p.Name]}
			case openapi3.ParameterInQuery:
				if query == nil {
					query = r.URL.Query()
				}
				vals = query[p.Name]
			}
			for _, v := range vals {
				if !canonicalDecimal.MatchString(v) {
					return fmt.Errorf("%w: parameter %q in %s must be a decimal integer without sign, leading zeros or spaces, got %q",
						problem.ErrBadRequest, p.Name, p.In, v)
				}
			}
		}
	}
	return nil
}

// bodyLimit returns the largest body op accepts.
func (g *guard) bodyLimit(op *openapi3.Operation) (int64, bool) {
	switch {
	case isOp(op, "putAsset"):
		return MaxAssetBytes, true
	case isOp(op, "putShard"):
		return g.node.MaxShardBytes(), true
	case isOp(op, "storeShard"):
		return g.maxStoreB, true
	case isOp(op, "mergeBlocks"):
		return maxMergeBody, true
	case rawJobBody(op):
		return maxJobBody, true
	case isOp(op, "mergeReputation"):
		return 4 << 20, true
	}
	return maxJSONBody, true
}

// validationRoute returns the route to validate a request against. For
// streamed operations it drops the security requirements, which
// authenticate has already enforced: kin-openapi's security check reads the
// whole body into memory first (even with ExcludeRequestBody), which would
// buffer a shard upload of any size before the store's concurrency and size
// limits apply.
func validationRoute(route *routers.Route) *routers.Route {
	if !streamed(route.Operation) {
		return route
	}
	op := *route.Operation
	op.Security = &openapi3.SecurityRequirements{}
	r := *route
	r.Operation = &op
	return &r
}

// validationErr turns a spec validation failure into a bad request,
// keeping an oversize body a 413 and a failed body read what it is.
func validationErr(err error) error {
	var maxBytes *http.MaxBytesError
	if errors.As(err, &maxBytes) || errors.Is(err, problem.ErrBadBody) || errors.Is(err, problem.ErrSlowBody) {
		return err
	}
	msg := err.Error()
	// kin-openapi appends the whole schema to some messages; keep the reason.
	if i := strings.Index(msg, "\nSchema:"); i >= 0 {
		msg = msg[:i]
	}
	return fmt.Errorf("%w: %s", problem.ErrBadRequest, strings.TrimSpace(msg))
}

// authenticate checks the operation's security requirements (alternatives:
// any one satisfied is enough). It returns nil for open operations.
func (g *guard) authenticate(r *http.Request, route *routers.Route) (*Caller, error) {
	reqs := route.Spec.Security
	if route.Operation.Security != nil {
		reqs = *route.Operation.Security
	}
	if len(reqs) == 0 {
		return nil, nil
	}
	allowed := map[string]bool{}
	for _, req := range reqs {
		for name := range req {
			allowed[name] = true
		}
	}
	if allowed["adminToken"] {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			return g.checkAdminToken(r, tok)
		}
	}
	if allowed["nodeSignature"] && r.Header.Get(identity.RequestSignatureHeader) != "" {
		return g.verifySigned(r, route)
	}
	if allowed["nodeSignature"] {
		return nil, fmt.Errorf("%w: send the admin token (Authorization: Bearer) or a node signature (%s)",
			problem.ErrUnauthorized, identity.RequestSignatureHeader)
	}
	return nil, fmt.Errorf("%w: send the admin token as Authorization: Bearer TOKEN", problem.ErrUnauthorized)
}

// checkAdminToken checks an admin token, unless its client address is
// backing off after wrong ones (as the dashboard's login does, with the
// same table): then even the right token waits, unread.
func (g *guard) checkAdminToken(r *http.Request, token string) (*Caller, error) {
	addr := backoff.ClientAddr(r.RemoteAddr)
	if wait := g.logins.Wait(addr); wait > 0 {
		return nil, &problem.TooManyRequests{Wait: wait,
			Reason: fmt.Sprintf("too many wrong admin tokens from %s; try again in %d s", backoff.AddrLabel(addr), backoff.Seconds(wait))}
	}
	if !g.node.CheckAdminToken(token) {
		failures, wait := g.logins.Fail(addr)
		g.log.Info("Admin token refused", "remote", r.RemoteAddr, "failures", failures, "backoff", wait.String())
		return nil, fmt.Errorf("%w: wrong admin token", problem.ErrUnauthorized)
	}
	g.logins.Succeed(addr)
	return &Caller{Admin: true}, nil
}

// verifySigned checks a node's request signature, that it was made for this
// node (a request signed for another node must not replay here), the body
// digest it claims (for buffered bodies) and that it is not a replay.
func (g *guard) verifySigned(r *http.Request, route *routers.Route) (*Caller, error) {
	sr, err := identity.VerifyRequest(r)
	if err != nil {
		return nil, err
	}
	if !g.ownHost(r.Host) {
		return nil, fmt.Errorf("%w: signed for host %q, which is not this node (its endpoint, listen address or --allowed-hosts)",
			identity.ErrBadRequestSignature, r.Host)
	}
	if !streamed(route.Operation) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := sr.CheckDigest(identity.BodyDigest(body)); err != nil {
			return nil, err
		}
	}
	if err := g.checkMember(sr.ID); err != nil {
		return nil, err
	}
	if err := g.node.CheckReplay(r.Context(), sr); err != nil {
		return nil, err
	}
	return &Caller{Node: sr.ID, Digest: sr.Digest}, nil
}

// checkMember refuses a node signature by a node outside this node's
// cluster: a valid signature only says who sent the request, membership
// says whether that sender may use this node. It runs before the replay
// check, so strangers never take an entry in the replay state.
func (g *guard) checkMember(id identity.NodeID) error {
	if !g.node.IsMember(id) {
		if _, ok := g.node.Cluster(); !ok {
			return fmt.Errorf("%w: %s: this node runs alone (it has no cluster document)", node.ErrNotMember, id)
		}
		return fmt.Errorf("%w: %s", node.ErrNotMember, id)
	}
	return nil
}
