package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
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
not sent again. Running it again once the file is stored does nothing and says so
(the node answers before the file is sent); with other --mode/--k/--n/--r/--shard-size
it stores a new asset beside the first. After a failed or lost upload it starts afresh.`,
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
			if cmd.Flags().Changed("mode") {
				m := gen.PutAssetParamsMode(mode)
				params.Mode = &m
			}
			for _, p := range []struct {
				flag string
				v    int
				dst  **int
			}{{"--k", k, &params.K}, {"--n", n, &params.N}, {"--r", r, &params.R}, {"--shard-size", shardSize, &params.ShardSize}} {
				if p.v < 0 {
					return fmt.Errorf("%s must be 1 or more, not %d", p.flag, p.v)
				}
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
			// With Expect: 100-continue the node decides before a byte is
			// sent: content stored already is not uploaded again.
			resp, err := c.PutAssetWithBodyWithResponse(cmd.Context(), params, "application/octet-stream", body, contentLength(size), expectContinue)
			done()
			if err != nil {
				return err
			}
			a, fresh := resp.JSON201, true
			if a == nil {
				a, fresh = resp.JSON200, false
			}
			if a == nil {
				return unexpected(resp)
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), a)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", a.AssetId)
			w := cmd.ErrOrStderr()
			if !fresh {
				fmt.Fprintf(w, "%s is already stored as %s (%s, %s, survives %s); nothing uploaded\n",
					name, a.AssetId, paramsText(*a), a.State, lossesText(a.Survives))
				return nil
			}
			fmt.Fprintf(w, "stored %s (%s) as %s: %s, %s on %s, survives %s, %s%s\n",
				name, humanBytes(a.Size), a.AssetId, paramsText(*a), count(a.Stripes, "stripe", "stripes"), count(a.Hosts, "host", "hosts"),
				lossesText(a.Survives), a.State, rateText(a.Size, time.Since(start)))
			// Say so when this made a second asset of the same content
			// (asking for that content only: the whole list reads every
			// file's shard records).
			list, err := answer[gen.AssetList](c.ListAssets(cmd.Context(), &gen.ListAssetsParams{FileHash: &hash}))
			if err != nil {
				return err
			}
			for _, other := range list.Assets {
				if other.FileHash == hash && other.AssetId != a.AssetId {
					fmt.Fprintf(w, "a new asset: the same content is also stored as %s (%s)\n", other.AssetId, paramsText(other))
				}
			}
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
	return count(int(n), "host loss", "host losses")
}

// count is "1 stripe" or "3 stripes".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// paramsText names an asset's parameters: "ec 2/3" or "rep r=5".
func paramsText(a gen.Asset) string {
	if a.Mode == gen.AssetModeRep {
		return fmt.Sprintf("rep r=%d", a.N)
	}
	return fmt.Sprintf("ec %d/%d", a.K, a.N)
}

// expectContinue asks the node to answer before the body is sent, so a
// put it refuses, or has no need of, sends no bytes.
func expectContinue(_ context.Context, req *http.Request) error {
	req.Header.Set("Expect", "100-continue")
	return nil
}

// humanBytes is a size for people in binary units: "512 B", "1.5 MiB".
func humanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if v < 1024 {
			break
		}
		v, unit = v/1024, u
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}

// Below these a transfer rate says more about the clock than the link.
const (
	minRateBytes = 1 << 20
	minRateTime  = 100 * time.Millisecond
)

// rateText is ", 12.3 MB/s" for a transfer of n bytes that took d, or
// nothing when the transfer was too small or quick to measure.
func rateText(n int64, d time.Duration) string {
	if n < minRateBytes || d < minRateTime {
		return ""
	}
	return fmt.Sprintf(", %.1f MB/s", float64(n)/1e6/d.Seconds())
}

func getCmd(getenv env) *cobra.Command {
	var (
		o          clientOptions
		output     string
		force      bool
		noProgress bool
	)
	cmd := &cobra.Command{
		Use:   "get ASSET_ID [-o FILE|-]",
		Short: "Fetch a stored file back: any k shards per stripe, verified, decoded, decrypted, written atomically",
		Long: `Fetch a stored file back into the file it was stored from: its stored name in the
current directory, unless -o names another file or -o - asks for standard output. An
existing file is not overwritten without --force. The bytes are checked against the
file's BLAKE3 hash before the file appears; a download that breaks off leaves nothing.`,
		Example: `  offgrid get a3f2...
  offgrid get a3f2... -o photos-copy.tar
  offgrid get a3f2... -o - | tar x`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			id := args[0]
			ctx := cmd.Context()
			if output == "" {
				info, err := answer[gen.Asset](c.GetAsset(ctx, id))
				if err != nil {
					return notFound(err, id)
				}
				output = storedName(info.Name, id)
				if _, err := os.Lstat(output); err == nil && !force {
					return fmt.Errorf("%s exists already; pass --force to overwrite it, or -o to write elsewhere", output)
				}
			}
			resp, err := c.GetAssetContent(ctx, id)
			if err != nil {
				return notFound(err, id)
			}
			defer resp.Body.Close()
			want := resp.Header.Get("Offgrid-Content-Hash")
			var (
				dst    io.Writer
				commit = func() error { return nil }
			)
			if output == "-" {
				// Standard output cannot be taken back: a bad hash is
				// reported after the bytes went out.
				dst = cmd.OutOrStdout()
			} else {
				// Written beside the output and renamed over it only once
				// the hash matches: a broken download leaves no partial file.
				out, err := atomicfile.Create(output, 0o600)
				if err != nil {
					return err
				}
				defer out.Discard()
				dst, commit = out, out.Commit
			}
			body, done := progress(cmd, resp.Body, resp.ContentLength, "get "+id, noProgress || o.json)
			h := blake3.New()
			start := time.Now()
			n, err := copyHashing(dst, h, body)
			done()
			if err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, ctx.Err()) {
					return fmt.Errorf("download of %s broke off after %d bytes (%v); `offgrid assets %s` shows its health", id, n, err, id)
				}
				return err
			}
			got := hex.EncodeToString(h.Sum(nil))
			if got != want {
				if output == "-" {
					return fmt.Errorf("%s hashes to %s, the node said %s; discard what was written", id, got, want)
				}
				return fmt.Errorf("%s hashes to %s, the node said %s; nothing written", id, got, want)
			}
			if err := commit(); err != nil {
				return err
			}
			// With -o - standard output carries the file: the report goes
			// to standard error.
			w := cmd.OutOrStdout()
			if output == "-" {
				w = cmd.ErrOrStderr()
			}
			if o.json {
				return printJSON(w, map[string]any{"asset_id": id, "file": output, "size": n, "hash": got})
			}
			fmt.Fprintf(w, "wrote %s (%s, blake3 %s%s)\n", output, humanBytes(n), got, rateText(n, time.Since(start)))
			return nil
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "file to write, - for standard output (default: the stored name, in the current directory)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file of the stored name")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "no progress bar")
	return cmd
}

// storedName is the file a get writes when not told: the last element of
// the name the file was stored under, or the asset ID when that is empty
// or names no file ("..", "/"). A name from the node never leads outside
// the current directory.
func storedName(name, id string) string {
	base := filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	switch base {
	case "", ".", "..", "/", "-":
		return id
	}
	return base
}

func assetsCmd(getenv env) *cobra.Command {
	var (
		o        clientOptions
		rawBytes bool
	)
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
			size := humanBytes
			if rawBytes {
				size = func(n int64) string { return strconv.FormatInt(n, 10) }
			}
			if len(args) == 1 {
				resp, err := answer[gen.Asset](c.GetAsset(cmd.Context(), args[0]))
				if err != nil {
					return notFound(err, args[0])
				}
				if o.json {
					return printJSON(w, resp)
				}
				printAsset(w, *resp, size)
				return nil
			}
			resp, err := answer[gen.AssetList](c.ListAssets(cmd.Context(), nil))
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(w, resp)
			}
			if len(resp.Assets) == 0 {
				fmt.Fprintln(w, "no assets yet; store one with `offgrid put FILE`")
				return nil
			}
			return printAssetTable(w, resp.Assets, size)
		},
	}
	o.flags(cmd)
	cmd.Flags().BoolVar(&rawBytes, "bytes", false, "print sizes in bytes")
	return cmd
}

// printAssetTable prints assets as an aligned table with a header.
func printAssetTable(w io.Writer, as []gen.Asset, size func(int64) string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSIZE\tSTORED AS\tSTATE\tHOSTS\tSURVIVES")
	for _, a := range as {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", a.AssetId, orDash(a.Name), sizeText(a.Size, size), paramsText(a), a.State, a.Hosts, lossesText(a.Survives))
	}
	return tw.Flush()
}

// sizeText is the size of an asset, "unknown" while an upload of unknown
// size runs.
func sizeText(n int64, size func(int64) string) string {
	if n < 0 {
		return "unknown"
	}
	return size(n)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printAsset prints one asset, with each stripe's live shards.
func printAsset(w io.Writer, a gen.Asset, size func(int64) string) {
	fmt.Fprintf(w, "%s  %s\n", a.AssetId, orDash(a.Name))
	fmt.Fprintf(w, "  size:      %s\n", sizeText(a.Size, size))
	fmt.Fprintf(w, "  stored as: %s, %s, shards of %s\n", paramsText(a), count(a.Stripes, "stripe", "stripes"), size(int64(a.ShardSize)))
	fmt.Fprintf(w, "  state:     %s, on %s, survives %s\n", a.State, count(a.Hosts, "host", "hosts"), lossesText(a.Survives))
	if a.AuditsFailed != nil && *a.AuditsFailed > 0 {
		fmt.Fprintf(w, "  audits:    %d failed (shards lost by their hosts, since repaired or being repaired)\n", *a.AuditsFailed)
	}
	fmt.Fprintf(w, "  blake3:    %s\n", orDash(a.FileHash))
	for i, live := range a.StripeShards {
		fmt.Fprintf(w, "  stripe %d:  %d of %d shards live (any %d restore it)\n", i, live, a.N, a.K)
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
			rep, err := answer[gen.RepairReport](c.RepairAsset(cmd.Context(), args[0]))
			if err != nil {
				return notFound(err, args[0])
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d shards found dead, %d rebuilt, %d could not be placed\n", rep.MarkedDead, rep.Rebuilt, rep.Unplaced)
			printAsset(cmd.OutOrStdout(), rep.Asset, humanBytes)
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
			rep, err := answer[gen.DeleteReport](c.DeleteAsset(cmd.Context(), args[0]))
			if err != nil {
				return notFound(err, args[0])
			}
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
