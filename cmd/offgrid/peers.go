package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/radio/ble"
)

func peersCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List a node's peer table: node ID, endpoint, how it was heard (via), state, last seen",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return ask(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.GetPeers(ctx)
			}, func(w io.Writer, v *gen.PeerList) {
				if len(v.Peers) == 0 {
					fmt.Fprintln(w, "no peers yet")
				}
				for _, p := range v.Peers {
					id, name, seen := "-", "", "never"
					if p.NodeId != nil {
						id = *p.NodeId
					}
					if p.Name != nil {
						name = *p.Name
					}
					if p.LastSeen != nil {
						seen = time.Since(*p.LastSeen).Round(time.Second).String() + " ago"
					}
					fmt.Fprintf(w, "%-7s %-6s %-28s %-14s %s  (%s)\n", p.State, p.Via, p.Endpoint, name, id, seen)
				}
			})
		},
	}
	o.flags(cmd)
	return cmd
}

func bleNameCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ble-name URL",
		Short:   "Print the Bluetooth device name that advertises a node's endpoint (OFFGRID:<base64url(URL)>)",
		Example: "  offgrid ble-name http://10.0.0.5:8081",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := ble.Name(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), name)
			return nil
		},
	}
}
