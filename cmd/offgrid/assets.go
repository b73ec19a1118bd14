package main

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/zeebo/blake3"
	"golang.org/x/term"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/internal/atomicfile"
)

// progress wraps r in a progress bar on stderr when stderr is a terminal
// (progressbar cannot tell by itself) and the user did not opt out.
func progress(cmd *cobra.Command, r io.Reader, size int64, what string, off bool) (io.Reader, func()) {
	f, ok := cmd.ErrOrStderr().(*os.File)
	if off || !ok || !term.IsTerminal(int(f.Fd())) {
		return r, func() {}
	}
	bar := progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionFullWidth(),
		progressbar.OptionClearOnFinish(),
	)
	pr := progressbar.NewReader(r, bar)
	return &pr, func() { bar.Finish() }
}

// hashFile returns the BLAKE3-256 and size of a file.
func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := blake3.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func putCmd(getenv env) *cobra.Command {
	var (
		o          clientOptions
		mode       string
		k, n, r    int
		shardSize  int
		recipients []string
		policyFile string
		noProgress bool
		shared     bool
	)
	cmd := &cobra.Command{
		Use:   "put FILE",
		Short: "Store a file across the mesh: encrypted on your node, erasure coded, spread over distinct hosts",
		Long: `Store a file through the node given by --node. The node encrypts it with a fresh
key (wrapped to its own X25519 key and any --recipient), erasure codes it (--mode ec,
default k/n chosen from the live hosts, at most 12/20) or replicates it (--mode rep --r 5),
and places the shards on distinct hosts from its peer table. An explicit --k/--n (or
--r) needs that many distinct live hosts; with fewer the put is refused, naming the
hosts found, unless --allow-shared-hosts lets a host take several shards. The result
says how many host losses the file survives, from where its shards really are.
Running the same put again after an interruption resumes it: acknowledged shards are
not sent again. Running it again after it failed or was lost, or with other
parameters, starts a fresh upload.`,
		Example: `  offgrid put photos.tar
  offgrid put photos.tar --mode ec --k 12 --n 20
  offgrid put notes.txt --mode rep --r 5
  offgrid put film.mkv --policy policy.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			hash, size, err := hashFile(args[0])
			if err != nil {
				return err
			}
			params := &gen.PutAssetParams{OffgridContentHash: &hash}
			name := filepath.Base(args[0])
			params.Name = &name
			m := gen.PutAssetParamsMode(mode)
			params.Mode = &m
			for _, p := range []struct {
				v   int
				dst **int
			}{{k, &params.K}, {n, &params.N}, {r, &params.R}, {shardSize, &params.ShardSize}} {
				if p.v != 0 {
					v := p.v
					*p.dst = &v
				}
			}
			if shared {
				params.AllowSharedHosts = &shared
			}
			if len(recipients) > 0 {
				joined := strings.Join(recipients, ",")
				params.Recipients = &joined
			}
			if policyFile != "" {
				b, err := os.ReadFile(policyFile)
				if err != nil {
					return err
				}
				enc := base64.RawURLEncoding.EncodeToString(b)
				params.OffgridPolicy = &enc
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			body, done := progress(cmd, f, size, "put "+name, noProgress || o.json)
			start := time.Now()
			resp, err := c.PutAssetWithBodyWithResponse(cmd.Context(), params, "application/octet-stream", body, contentLength(size))
			done()
			if err != nil {
				return err
			}
			if resp.JSON201 == nil {
				return unexpected(resp)
			}
			a := resp.JSON201
			if o.json {
				return printJSON(cmd.OutOrStdout(), a)
			}
			secs := time.Since(start).Seconds()
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", a.AssetId)
			fmt.Fprintf(cmd.ErrOrStderr(), "stored %s (%d bytes) as %s: %s %d/%d, %d stripes on %d hosts, survives %s, state %s, %.1f MB/s\n",
				name, a.Size, a.AssetId, a.Mode, a.K, a.N, a.Stripes, a.Hosts, lossesText(a.Survives), a.State, float64(a.Size)/1e6/max(secs, 1e-6))
			return nil
		},
	}
	o.flags(cmd)
	fs := cmd.Flags()
	fs.StringVar(&mode, "mode", "ec", "ec (erasure coding) or rep (replication)")
	fs.IntVar(&k, "k", 0, "data shards per stripe (ec; with --n; default: chosen from the live hosts, at most 12)")
	fs.IntVar(&n, "n", 0, "shards per stripe (ec; default at most 20)")
	fs.IntVar(&r, "r", 0, "replicas (rep; default 5)")
	fs.IntVar(&shardSize, "shard-size", 0, "shard size in bytes (default: fits small files, 1 MiB for large)")
	fs.StringSliceVar(&recipients, "recipient", nil, "further X25519 public key (hex) to wrap the file key to (repeatable)")
	fs.StringVar(&policyFile, "policy", "", "signed asset policy to attach (offgrid policy sign)")
	fs.BoolVar(&noProgress, "no-progress", false, "no progress bar")
	fs.BoolVar(&shared, "allow-shared-hosts", false, "with fewer live hosts than --n (or --r), put several shards on one host instead of refusing (the file survives fewer host losses)")
	return cmd
}

// lossesText says how many host losses a file survives: "8 host losses".
func lossesText(n int32) string {
	if n == 1 {
		return "1 host loss"
	}
	return fmt.Sprintf("%d host losses", n)
}

func getCmd(getenv env) *cobra.Command {
	var (
		o          clientOptions
		output     string
		noProgress bool
	)
	cmd := &cobra.Command{
		Use:   "get ASSET_ID -o FILE",
		Short: "Fetch a stored file back: any k shards per stripe, verified, decoded, decrypted, written atomically",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			id := args[0]
			resp, err := c.GetAssetContent(cmd.Context(), id)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			want := resp.Header.Get("Offgrid-Content-Hash")
			// Written beside the output and renamed over it only once the
			// hash matches: a broken download leaves no partial file.
			out, err := atomicfile.Create(output, 0o600)
			if err != nil {
				return err
			}
			defer out.Discard()
			body, done := progress(cmd, resp.Body, resp.ContentLength, "get "+id, noProgress || o.json)
			h := blake3.New()
			start := time.Now()
			n, err := io.Copy(io.MultiWriter(out, h), body)
			done()
			if err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, cmd.Context().Err()) {
					return fmt.Errorf("download of %s broke off after %d bytes (%v); `offgrid assets %s` shows its health", id, n, err, id)
				}
				return err
			}
			got := hex.EncodeToString(h.Sum(nil))
			if got != want {
				return fmt.Errorf("%s hashes to %s, the node said %s; nothing written", id, got, want)
			}
			if err := out.Commit(); err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"asset_id": id, "file": output, "size": n, "hash": got})
			}
			secs := time.Since(start).Seconds()
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes, blake3 %s, %.1f MB/s)\n", output, n, got, float64(n)/1e6/max(secs, 1e-6))
			return nil
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "file to write (written to a temp file, then renamed)")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "no progress bar")
	cmd.MarkFlagRequired("output")
	return cmd
}

func assetsCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "assets [ASSET_ID]",
		Short: "List the files a node stored, with their health, or show one with its per-stripe shard counts",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				resp, err := c.GetAssetWithResponse(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if resp.JSON200 == nil {
					return unexpected(resp)
				}
				if o.json {
					return printJSON(w, resp.JSON200)
				}
				printAsset(w, *resp.JSON200, true)
				return nil
			}
			resp, err := c.ListAssetsWithResponse(cmd.Context())
			if err != nil {
				return err
			}
			if resp.JSON200 == nil {
				return unexpected(resp)
			}
			if o.json {
				return printJSON(w, resp.JSON200)
			}
			if len(resp.JSON200.Assets) == 0 {
				fmt.Fprintln(w, "no assets yet; store one with `offgrid put FILE`")
			}
			for _, a := range resp.JSON200.Assets {
				printAsset(w, a, false)
			}
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}

func printAsset(w io.Writer, a gen.Asset, detail bool) {
	fmt.Fprintf(w, "%s  %-8s %s %d/%d  %d bytes  %d stripes  min %d/%d live  %d hosts  survives %s  %s\n",
		a.AssetId, a.State, a.Mode, a.K, a.N, a.Size, a.Stripes, a.MinLive, a.N, a.Hosts, lossesText(a.Survives), a.Name)
	if detail {
		for i, live := range a.StripeShards {
			fmt.Fprintf(w, "  stripe %d: %d/%d shards live\n", i, live, a.N)
		}
	}
}

func repairCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "repair ASSET_ID",
		Short: "Check every shard of an asset on its host now and rebuild what is missing",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			resp, err := c.RepairAssetWithResponse(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if resp.JSON200 == nil {
				return unexpected(resp)
			}
			rep := resp.JSON200
			if o.json {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d shards found dead, %d rebuilt, %d could not be placed\n", rep.MarkedDead, rep.Rebuilt, rep.Unplaced)
			printAsset(cmd.OutOrStdout(), rep.Asset, true)
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}

func rmCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "rm ASSET_ID",
		Short: "Delete a file: the node forgets it and its hosts drop its shards",
		Long: `Delete a file. The node forgets it at once and asks every host to drop its
shards; a host that does not answer is asked again on the repair schedule, and
drops them anyway once nobody has claimed them for its --shard-grace.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			resp, err := c.DeleteAssetWithResponse(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if resp.JSON200 == nil {
				return unexpected(resp)
			}
			rep := resp.JSON200
			if o.json {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s: %d shards dropped", args[0], rep.Dropped)
			if rep.Pending > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), ", %d on hosts that did not answer (asked again later)", rep.Pending)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}
