package peerclient

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/node/trust"
)

// maxClusterAnswer bounds the answer to GET /cluster: the document (base64)
// and its decoded fields, each at most cluster.MaxSize, plus the proposal.
const maxClusterAnswer = 8 * cluster.MaxSize

// Clusters fetches other nodes' cluster documents.
type Clusters struct {
	doer gen.HttpRequestDoer
}

var _ trust.Fetcher = (*Clusters)(nil)

// NewClusters returns a fetcher over doer, which should carry its own
// overall timeout.
func NewClusters(doer gen.HttpRequestDoer) *Clusters { return &Clusters{doer: doer} }

// FetchCluster implements trust.Fetcher: it returns the canonical bytes of
// the node's installed document, reading a bounded answer.
func (c *Clusters) FetchCluster(ctx context.Context, endpoint string) ([]byte, error) {
	client, err := gen.NewClient(endpoint, gen.WithHTTPClient(c.doer))
	if err != nil {
		return nil, fmt.Errorf("bad peer endpoint %q: %w", endpoint, err)
	}
	resp, err := client.GetCluster(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch cluster from %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch cluster from %s: status %d", endpoint, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(maxClusterAnswer)+1))
	if err != nil {
		return nil, fmt.Errorf("fetch cluster from %s: %w", endpoint, err)
	}
	if len(body) > maxClusterAnswer {
		return nil, fmt.Errorf("fetch cluster from %s: answer over %d bytes", endpoint, maxClusterAnswer)
	}
	var st gen.ClusterState
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("fetch cluster from %s: %w", endpoint, err)
	}
	if st.Cluster == nil {
		return nil, fmt.Errorf("fetch cluster from %s: the node runs alone", endpoint)
	}
	b, err := base64.StdEncoding.DecodeString(st.Cluster.Document)
	if err != nil {
		return nil, fmt.Errorf("fetch cluster from %s: %w", endpoint, err)
	}
	return b, nil
}
