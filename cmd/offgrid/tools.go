package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/atomicfile"
	"github.com/offgrid-net/offgrid/storage"
)

func ecCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ec",
		Short: "Erasure code a file into shard files and back (offline; no encryption)",
	}
	var (
		k, n, shardSize int
		outdir          string
	)
	encode := &cobra.Command{
		Use:     "encode FILE --k 12 --n 20 --shard-size 65536 --outdir DIR",
		Short:   "Split FILE into n shard files; any k of them restore it",
		Example: "  offgrid ec encode README.md --k 12 --n 20 --shard-size 32768 --outdir ./ec_out",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			if err := os.MkdirAll(outdir, 0o755); err != nil {
				return err
			}
			meta, err := storage.EncodeFile(f, k, n, shardSize, outdir)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d shard files (%d stripes of %d x %d bytes) and meta.json to %s; any %d restore the file\n",
				meta.N, meta.Stripes, meta.K, meta.ShardSize, outdir, meta.K)
			return nil
		},
	}
	encode.Flags().IntVar(&k, "k", 12, "data shards")
	encode.Flags().IntVar(&n, "n", 20, "total shards")
	encode.Flags().IntVar(&shardSize, "shard-size", 65536, "bytes per shard per stripe")
	encode.Flags().StringVar(&outdir, "outdir", "./ec_out", "directory for the shard files")

	var indir, outfile string
	decode := &cobra.Command{
		Use:   "decode --indir DIR --outfile FILE",
		Short: "Restore a file from any k intact shard files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := atomicfile.Create(outfile, 0o600)
			if err != nil {
				return err
			}
			defer out.Discard()
			meta, err := storage.DecodeFiles(indir, out)
			if err != nil {
				return err
			}
			if err := out.Commit(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s (%d bytes, blake3 %s)\n", outfile, meta.Size, meta.FileHash)
			return nil
		},
	}
	decode.Flags().StringVar(&indir, "indir", "./ec_out", "directory with meta.json and shard files")
	decode.Flags().StringVar(&outfile, "outfile", "", "file to write")
	decode.MarkFlagRequired("outfile")
	cmd.AddCommand(encode, decode)
	return cmd
}

func policyCmd(getenv env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Sign or verify an asset policy (license, distribution, safety tags) with a node's key (offline)",
	}
	var (
		dataDir, asset, license, mode, output string
		r, k, n                               int
		tags                                  []string
	)
	sign := &cobra.Command{
		Use:     "sign --asset ASSET_ID --license MIT --mode replication --r 5 [--tags a,b] [-o FILE]",
		Short:   "Write a policy signed with the Ed25519 key in --data",
		Example: "  offgrid policy sign --asset b3:<blake3 of the file> --license MIT --mode replication --r 5 --tags public,maps -o policy.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags(), getenv); err != nil {
				return err
			}
			if _, err := os.Stat(filepath.Join(dataDir, identity.KeysFile)); err != nil {
				return fmt.Errorf("no keys in %s (offgrid keys gen --data %s): %w", dataDir, dataDir, err)
			}
			keys, _, err := identity.LoadOrCreate(dataDir, rand.Reader)
			if err != nil {
				return err
			}
			p := storage.Policy{Version: "1", AssetID: asset, License: license, SafetyTags: tags,
				Distribution: storage.Distribution{Mode: mode, R: r, K: k, N: n}}
			if p.SafetyTags == nil {
				p.SafetyTags = []string{}
			}
			signed, err := storage.SignPolicy(keys, p)
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(signed, "", "  ")
			if err != nil {
				return err
			}
			b = append(b, '\n')
			if output == "" {
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			if err := atomicfile.WriteFile(output, b, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s, signed by %s\n", output, signed.NodeID)
			return nil
		},
	}
	fs := sign.Flags()
	fs.StringVar(&dataDir, "data", "./offgrid-data", "data directory holding the signing keys")
	fs.StringVar(&asset, "asset", "", "asset ID, or b3:<BLAKE3 of the file>")
	fs.StringVar(&license, "license", "", "license, e.g. MIT or CC-BY-4.0")
	fs.StringVar(&mode, "mode", "replication", "replication or ec")
	fs.IntVar(&r, "r", 0, "replicas (replication)")
	fs.IntVar(&k, "k", 0, "data shards (ec)")
	fs.IntVar(&n, "n", 0, "total shards (ec)")
	fs.StringSliceVar(&tags, "tags", nil, "safety tags, comma-separated")
	fs.StringVarP(&output, "output", "o", "", "write the policy here instead of stdout")
	sign.MarkFlagRequired("asset")
	sign.MarkFlagRequired("license")

	verify := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check a policy's fields and signature",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := readBounded(args[0], 64<<10)
			if err != nil {
				return err
			}
			p, err := storage.DecodePolicy(b)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if err := p.Verify(); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: policy for %s (%s, %s) signed by %s\n", p.AssetID, p.License, p.Distribution.Mode, p.NodeID)
			return nil
		},
	}
	cmd.AddCommand(sign, verify)
	return cmd
}

// readBounded reads a file of at most limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

func stressCmd(getenv env) *cobra.Command {
	var (
		o    clientOptions
		size int64
		k, n int
	)
	cmd := &cobra.Command{
		Use:   "stress",
		Short: "Put a random file through the whole EC path of a node, get it back byte for byte, then delete it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if size < 1 || size > 1<<34 {
				return errors.New("--size must be between 1 byte and 16 GiB")
			}
			// OFFGRID_NODE and OFFGRID_TOKEN name the node, as for every
			// client command; the flags passed on below would override them.
			if err := applyEnv(cmd.Flags(), getenv); err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "offgrid-stress-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			src := filepath.Join(dir, "random.bin")
			f, err := os.Create(src)
			if err != nil {
				return err
			}
			if _, err := io.CopyN(f, rand.Reader, size); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			conn := []string{"--node", o.node, "--timeout", o.timeout.String()}
			if o.token != "" {
				conn = append(conn, "--token", o.token)
			}
			common := append(slices.Clip(conn), "--no-progress")
			putArgs := append([]string{"put", src, "--mode", "ec"}, common...)
			if k != 0 {
				putArgs = append(putArgs, "--k", fmt.Sprint(k), "--n", fmt.Sprint(n))
			}
			var out, errOut bytes.Buffer
			start := time.Now()
			if err := run(cmd.Context(), putArgs, getenv, &out, &errOut); err != nil {
				return fmt.Errorf("put: %w", err)
			}
			putTook := time.Since(start)
			id := string(bytes.TrimSpace(out.Bytes()))
			dst := filepath.Join(dir, "back.bin")
			start = time.Now()
			if err := run(cmd.Context(), append([]string{"get", id, "-o", dst}, common...), getenv, io.Discard, &errOut); err != nil {
				return fmt.Errorf("get: %w", err)
			}
			getTook := time.Since(start)
			if err := sameFiles(src, dst); err != nil {
				return fmt.Errorf("%w (kept on the node as %s)", err, id)
			}
			// A test file must not stay on the hosts: delete it once it
			// came back whole.
			if err := run(cmd.Context(), append([]string{"rm", id}, conn...), getenv, io.Discard, &errOut); err != nil {
				return fmt.Errorf("rm: %w", err)
			}
			mb := float64(size) / 1e6
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d random bytes as %s came back identical; put %.1f MB/s, get %.1f MB/s\n%s",
				size, id, mb/putTook.Seconds(), mb/getTook.Seconds(), errOut.String())
			return nil
		},
	}
	o.flags(cmd)
	cmd.Flags().Int64Var(&size, "size", 8<<20, "bytes of random data")
	cmd.Flags().IntVar(&k, "k", 0, "data shards (default: chosen from the live hosts)")
	cmd.Flags().IntVar(&n, "n", 0, "total shards")
	return cmd
}

func sameFiles(a, b string) error {
	ha, na, err := hashFile(a)
	if err != nil {
		return err
	}
	hb, nb, err := hashFile(b)
	if err != nil {
		return err
	}
	if ha != hb || na != nb {
		return fmt.Errorf("the file came back different: %d bytes blake3 %s, sent %d bytes blake3 %s", nb, hb, na, ha)
	}
	return nil
}
