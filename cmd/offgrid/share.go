package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/internal/atomicfile"
	"github.com/offgrid-net/offgrid/storage"
)

func shareCmd(getenv env) *cobra.Command {
	var (
		o      clientOptions
		to     string
		output string
	)
	cmd := &cobra.Command{
		Use:   "share ASSET_ID --to NODE_ID [-o FILE]",
		Short: "Write a signed share manifest that lets one other node read a file",
		Long: `Write a share manifest for a file: where its shards are, and its file key
wrapped to the recipient's X25519 key, signed by this node. Only NODE_ID can use
it (offgrid import FILE on that node). The recipient must be in this node's peer
table; its key is read from its GET /pubkeys and checked against NODE_ID.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			peers, err := answer[gen.PeerList](c.GetPeers(cmd.Context()))
			if err != nil {
				return err
			}
			endpoint := ""
			for _, p := range peers.Peers {
				if p.NodeId != nil && *p.NodeId == to {
					endpoint = p.Endpoint
				}
			}
			if endpoint == "" {
				return fmt.Errorf("node %s is not in this node's peer table; see offgrid peers", to)
			}
			rc, err := gen.NewClientWithResponses(strings.TrimRight(endpoint, "/"),
				gen.WithHTTPClient(o.doer(cmd)))
			if err != nil {
				return err
			}
			keys, err := answer[gen.Pubkeys](rc.GetPubkeys(cmd.Context()))
			if err != nil {
				return fmt.Errorf("read the keys of %s at %s: %w", to, endpoint, err)
			}
			if keys.NodeId != to {
				return fmt.Errorf("%s answers as %s, not %s; not sharing", endpoint, keys.NodeId, to)
			}
			resp, err := answer[gen.Share](c.ShareAsset(cmd.Context(), args[0], gen.ShareRequest{To: to, BoxKey: keys.BoxKey}))
			if err != nil {
				return notFound(err, args[0])
			}
			b, err := json.MarshalIndent(resp, "", "  ")
			if err != nil {
				return err
			}
			b = append(b, '\n')
			if output == "" || output == "-" {
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			if err := atomicfile.WriteFile(output, b, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "share of %s for %s written to %s\n", args[0], to, output)
			return nil
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&to, "to", "", "node ID (did:key) of the recipient")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the manifest to this file (default: standard output)")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func importCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import a file another node shared with this one (its share manifest)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			b, err := io.ReadAll(io.LimitReader(f, storage.MaxShareJSON+1))
			if err != nil {
				return err
			}
			if len(b) > storage.MaxShareJSON {
				return fmt.Errorf("%s is larger than a share manifest can be (%d bytes)", args[0], storage.MaxShareJSON)
			}
			resp, err := c.ImportAssetWithBodyWithResponse(cmd.Context(), "application/json", bytes.NewReader(b))
			if err != nil {
				return err
			}
			if resp.JSON201 == nil {
				return unexpected(resp)
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), resp.JSON201)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %s (%s); read it with offgrid get %s\n", resp.JSON201.AssetId, resp.JSON201.Name, resp.JSON201.AssetId)
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}
