package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/offgrid-net/offgrid/identity"
)

func keysCmd(getenv env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create or show a node's keys (offline, in its data directory)",
	}
	var (
		dataDir string
		asJSON  bool
	)
	show := func(cmd *cobra.Command, k *identity.Keys, created bool) error {
		out := map[string]any{
			"node_id":    string(k.ID()),
			"verify_key": hex.EncodeToString(k.SignPublic()),
			"box_key":    hex.EncodeToString(k.BoxPublic()),
			"file":       filepath.Join(dataDir, identity.KeysFile),
			"created":    created,
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), out)
		}
		w := cmd.OutOrStdout()
		if created {
			fmt.Fprintf(w, "created %s (mode 0600)\n", out["file"])
		}
		fmt.Fprintf(w, "node ID:    %s\nverify key: %s (Ed25519)\nbox key:    %s (X25519)\n", out["node_id"], out["verify_key"], out["box_key"])
		return nil
	}
	gen := &cobra.Command{
		Use:   "gen",
		Short: "Create keys in --data unless they exist, and show them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags(), getenv); err != nil {
				return err
			}
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return fmt.Errorf("create data dir: %w", err)
			}
			k, created, err := identity.LoadOrCreate(dataDir, rand.Reader)
			if err != nil {
				return err
			}
			return show(cmd, k, created)
		},
	}
	showCmd := &cobra.Command{
		Use:   "show",
		Short: "Show the keys in --data",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags(), getenv); err != nil {
				return err
			}
			if _, err := os.Stat(filepath.Join(dataDir, identity.KeysFile)); errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no keys in %s; run `offgrid keys gen --data %s`", dataDir, dataDir)
			}
			k, _, err := identity.LoadOrCreate(dataDir, rand.Reader)
			if err != nil {
				return err
			}
			return show(cmd, k, false)
		},
	}
	for _, c := range []*cobra.Command{gen, showCmd} {
		c.Flags().StringVar(&dataDir, "data", "./offgrid-data", "data directory")
		c.Flags().BoolVar(&asJSON, "json", false, "print machine-readable JSON")
	}
	cmd.AddCommand(gen, showCmd)
	return cmd
}
