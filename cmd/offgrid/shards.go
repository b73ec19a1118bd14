package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/spf13/cobra"
	"github.com/zeebo/blake3"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/internal/atomicfile"
)

func storeCmd(getenv env) *cobra.Command {
	var (
		o     clientOptions
		asset string
		index int
	)
	cmd := &cobra.Command{
		Use:   "store FILE --asset ID --index N",
		Short: "Upload one shard to a node (streamed; checked against its BLAKE3 hash)",
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
			h := blake3.New()
			size, err := io.Copy(h, f)
			if err != nil {
				return fmt.Errorf("hash %s: %w", args[0], err)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			hash := hex.EncodeToString(h.Sum(nil))
			resp, err := c.PutShardWithBodyWithResponse(cmd.Context(), asset, index,
				&gen.PutShardParams{OffgridShardHash: &hash}, "application/octet-stream", io.NopCloser(f),
				contentLength(size))
			if err != nil {
				return err
			}
			if resp.JSON201 == nil {
				return unexpected(resp)
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), resp.JSON201)
			}
			sh := resp.JSON201
			fmt.Fprintf(cmd.OutOrStdout(), "stored %s/%d: %d bytes, blake3 %s\n", sh.AssetId, sh.Index, sh.Size, sh.Hash)
			return nil
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&asset, "asset", "", "asset ID")
	cmd.Flags().IntVar(&index, "index", 0, "shard index (0-255)")
	cmd.MarkFlagRequired("asset")
	return cmd
}

func fetchCmd(getenv env) *cobra.Command {
	var (
		o      clientOptions
		asset  string
		index  int
		output string
	)
	cmd := &cobra.Command{
		Use:   "fetch --asset ID --index N -o FILE",
		Short: "Download one shard from a node and check it against its BLAKE3 hash",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			resp, err := c.GetShard(cmd.Context(), asset, index)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			want := resp.Header.Get("Offgrid-Shard-Hash")
			out, err := atomicfile.Create(output, 0o600)
			if err != nil {
				return err
			}
			defer out.Discard()
			h := blake3.New()
			n, err := io.Copy(io.MultiWriter(out, h), resp.Body)
			if err != nil {
				return fmt.Errorf("download: %w", err)
			}
			got := hex.EncodeToString(h.Sum(nil))
			if got != want {
				return fmt.Errorf("shard %s/%d hashes to %s, but the node said %s; not written", asset, index, got, want)
			}
			if err := out.Commit(); err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"asset_id": asset, "index": index, "size": n, "hash": got, "file": output})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "fetched %s/%d: %d bytes, blake3 %s, to %s\n", asset, index, n, got, output)
			return nil
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&asset, "asset", "", "asset ID")
	cmd.Flags().IntVar(&index, "index", 0, "shard index (0-255)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "file to write")
	cmd.MarkFlagRequired("asset")
	cmd.MarkFlagRequired("output")
	return cmd
}

// contentLength sets the request's length so the node can refuse an
// oversize shard before it is sent.
func contentLength(n int64) gen.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.ContentLength = n
		return nil
	}
}
