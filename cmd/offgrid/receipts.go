package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/internal/atomicfile"
	"github.com/offgrid-net/offgrid/ledger"
)

// maxBatchFile bounds the batch files receipts verify reads.
const maxBatchFile = 64 << 20

func receiptsCmd(getenv env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "receipts",
		Short: "Export a node's signed receipts as a Merkle batch, or verify an exported batch",
	}
	var (
		o      clientOptions
		since  int64
		limit  int
		output string
	)
	export := &cobra.Command{
		Use:   "export",
		Short: "Export receipts (seq > --since) as a Merkle batch with inclusion proofs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since < 0 || limit < 1 || limit > 10000 {
				return fmt.Errorf("--since must be >= 0 and --limit between 1 and 10000")
			}
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			resp, err := c.ExportReceiptsWithResponse(cmd.Context(), &gen.ExportReceiptsParams{SinceSeq: &since, Limit: &limit})
			if err != nil {
				return err
			}
			if resp.JSON200 == nil {
				return unexpected(resp)
			}
			// Keep the node's exact bytes: the file is evidence.
			if output != "" {
				if err := atomicfile.WriteFile(output, resp.Body, 0o644); err != nil {
					return fmt.Errorf("write batch: %w", err)
				}
				if !o.json {
					b := resp.JSON200
					fmt.Fprintf(cmd.OutOrStdout(), "wrote %d receipts (seq %d..%d), root %s, to %s\n", b.Size, b.FromSeq, b.ToSeq, b.Root, output)
				}
				return nil
			}
			_, err = cmd.OutOrStdout().Write(resp.Body)
			return err
		},
	}
	o.flags(export)
	export.Flags().Int64Var(&since, "since", 0, "export receipts with a sequence number above this")
	export.Flags().IntVar(&limit, "limit", 1000, "at most this many receipts")
	export.Flags().StringVarP(&output, "output", "o", "", "write the batch to this file instead of stdout")

	var asJSON bool
	verify := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check every signature and inclusion proof of an exported batch (offline)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readBounded(args[0], maxBatchFile)
			if err != nil {
				return err
			}
			b, err := ledger.DecodeBatch(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if err := ledger.VerifyBatch(b); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"ok": true, "node_id": b.NodeID, "root": b.Root, "size": b.Size})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d receipts by %s, every signature and inclusion proof checks out against root %s\n", b.Size, b.NodeID, b.Root)
			return nil
		},
	}
	verify.Flags().BoolVar(&asJSON, "json", false, "print machine-readable JSON")
	cmd.AddCommand(export, verify)
	return cmd
}
