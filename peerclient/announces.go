package peerclient

import (
	"context"
	"fmt"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node/peers"
)

// Announces polls peers' announces through the generated API client.
type Announces struct {
	doer gen.HttpRequestDoer
}

var _ peers.Fetcher = (*Announces)(nil)

// NewAnnounces returns a poller over doer, which should carry its own
// overall timeout.
func NewAnnounces(doer gen.HttpRequestDoer) *Announces { return &Announces{doer: doer} }

// FetchAnnounce implements peers.Fetcher.
func (a *Announces) FetchAnnounce(ctx context.Context, endpoint string) (peers.Announced, error) {
	c, err := gen.NewClientWithResponses(endpoint, gen.WithHTTPClient(a.doer))
	if err != nil {
		return peers.Announced{}, fmt.Errorf("bad peer endpoint %q: %w", endpoint, err)
	}
	resp, err := c.GetAnnounceWithResponse(ctx)
	if err != nil {
		return peers.Announced{}, fmt.Errorf("poll %s: %w", endpoint, err)
	}
	if resp.JSON200 == nil {
		return peers.Announced{}, fmt.Errorf("poll %s: status %d", endpoint, resp.StatusCode())
	}
	return peers.Announced{ID: identity.NodeID(resp.JSON200.NodeId), Name: resp.JSON200.Name, Active: resp.JSON200.Active}, nil
}
