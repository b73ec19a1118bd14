package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/internal/atomicfile"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node"
)

func ledgerCmd(getenv env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "The cluster's blocks of receipts: list, export, merge, seal, and the store-and-forward outbox",
	}
	cmd.AddCommand(ledgerBlocksCmd(getenv), ledgerExportCmd(getenv), ledgerMergeCmd(getenv), ledgerSealCmd(getenv), ledgerOutboxCmd(getenv))
	return cmd
}

func ledgerBlocksCmd(getenv env) *cobra.Command {
	var (
		o     clientOptions
		limit int
	)
	cmd := &cobra.Command{
		Use:   "blocks",
		Short: "List the node's blocks, newest first: author, height, parents, receipt count",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 1000 {
				return fmt.Errorf("--limit must be between 1 and 1000")
			}
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			resp, err := answer[gen.BlockList](c.ListBlocks(cmd.Context(), &gen.ListBlocksParams{Limit: &limit}))
			if err != nil {
				return err
			}
			l := resp
			if o.json {
				return printJSON(cmd.OutOrStdout(), l)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "%d blocks of cluster %s\n", l.Count, l.ClusterId)
			fmt.Fprintln(w, "NAME\tAUTHOR\tHEIGHT\tPARENTS\tRECEIPTS")
			for _, b := range l.Blocks {
				parents := make([]string, len(b.Parents))
				for i, p := range b.Parents {
					parents[i] = p[:12]
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%d\n", b.Name[:12], shortID(b.Author), b.Height, strings.Join(parents, ","), b.Receipts)
			}
			return w.Flush()
		},
	}
	o.flags(cmd)
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many blocks")
	return cmd
}

// shortID is the end of a node ID, enough to tell a cluster's nodes apart.
func shortID(id string) string {
	if len(id) > 12 {
		return "…" + id[len(id)-12:]
	}
	return id
}

func ledgerExportCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "export DIR",
		Short: "Write every block of the node into DIR, one NAME.json file each (for `ledger merge DIR` elsewhere)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			written := 0
			var before int64
			limit := 1000
			for {
				resp, err := answer[gen.BlockList](c.ListBlocks(cmd.Context(), &gen.ListBlocksParams{Before: &before, Limit: &limit}))
				if err != nil {
					return err
				}
				for _, b := range resp.Blocks {
					r, err := c.GossipBlockWithResponse(cmd.Context(), &gen.GossipBlockParams{Name: b.Name})
					if err != nil {
						return err
					}
					if r.JSON200 == nil {
						return unexpected(r)
					}
					if err := atomicfile.WriteFile(filepath.Join(args[0], b.Name+".json"), r.Body, 0o644); err != nil {
						return fmt.Errorf("write block: %w", err)
					}
					written++
					before = b.Arrival
				}
				if len(resp.Blocks) < limit {
					break
				}
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"written": written, "dir": args[0]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d blocks to %s\n", written, args[0])
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}

// readBlockDir reads and strictly decodes every *.json file of dir as a
// block, naming the file of the first bad one.
func readBlockDir(dir string) ([]json.RawMessage, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s holds no *.json block files (write some with `offgrid ledger export DIR`)", dir)
	}
	if len(files) > node.MaxMergeBlocks {
		return nil, fmt.Errorf("%s holds %d block files; merge at most %d at a time", dir, len(files), node.MaxMergeBlocks)
	}
	slices.Sort(files)
	out := make([]json.RawMessage, 0, len(files))
	for _, f := range files {
		data, err := readBounded(f, ledger.MaxBlockJSON)
		if err != nil {
			return nil, err
		}
		b, err := ledger.DecodeBlock(data)
		if err == nil {
			err = ledger.VerifyBlock(b)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w; nothing was merged", f, err)
		}
		out = append(out, data)
	}
	return out, nil
}

func ledgerMergeCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "merge DIR|URL",
		Short: "Add the blocks of DIR (files from `ledger export`) or of the node at URL to this node's, all or nothing",
		Long: "Append-only union: every block must verify, be of this node's cluster, by a member, and have its\n" +
			"parents stored or in the set. A forged, malformed or foreign block is refused with the reason, and\n" +
			"nothing changes.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			var body []byte
			src := args[0]
			if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
				body, err = json.Marshal(map[string]string{"source": src})
			} else {
				var blocks []json.RawMessage
				if blocks, err = readBlockDir(src); err != nil {
					return err
				}
				body, err = json.Marshal(map[string]any{"blocks": blocks})
			}
			if err != nil {
				return err
			}
			resp, err := c.MergeBlocksWithBodyWithResponse(cmd.Context(), "application/json", bytes.NewReader(body))
			if err != nil {
				return fmt.Errorf("merge %s: %w", src, err)
			}
			if resp.JSON200 == nil {
				return unexpected(resp)
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), resp.JSON200)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "merged %s: %d new blocks (of %d)\n", src, resp.JSON200.Added, resp.JSON200.Offered)
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}

func ledgerSealCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "seal",
		Short: "Put the node's receipts that no block carries yet into its next block now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return ask(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.SealBlock(ctx)
			}, func(w io.Writer, v *gen.BlockSealed) {
				if b := v.Block; v.Sealed && b != nil {
					fmt.Fprintf(w, "sealed block %d (%s) with %d receipts\n", b.Height, b.Name, b.Receipts)
				} else {
					fmt.Fprintln(w, "nothing to seal: every receipt is in a block")
				}
			})
		},
	}
	o.flags(cmd)
	return cmd
}

func ledgerOutboxCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "outbox",
		Short: "List the store-and-forward items waiting for their destination",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			limit := 1000
			resp, err := answer[gen.OutboxList](c.ListOutbox(cmd.Context(), &gen.ListOutboxParams{Limit: &limit}))
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), resp)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "%d items waiting\n", len(resp.Items))
			fmt.Fprintln(w, "DEST\tKIND\tBYTES\tCARRIERS\tEXPIRES")
			for _, it := range resp.Items {
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\n", shortID(it.Dest), it.Kind, it.Bytes, it.Carriers, it.Expires.Format("2006-01-02 15:04"))
			}
			return w.Flush()
		},
	}
	o.flags(cmd)
	return cmd
}
