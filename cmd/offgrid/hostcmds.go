package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/offgrid-net/offgrid/api/gen"
)

// versionCmd prints the build's version from the information the Go
// toolchain embeds (module version, VCS revision and time), so no release
// step has to stamp it.
func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print this binary's version, source revision and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), versionText())
			return nil
		},
	}
}

// buildVersion is set by the Makefile's builds (-ldflags -X) to `git
// describe` of the source, for builds where Go records no VCS information
// (-buildvcs=false, or a build from outside a checkout).
var buildVersion string

// versionText is "offgrid VERSION (REVISION, TIME[, modified]) GO OS/ARCH".
func versionText() string {
	version, rev := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		var parts []string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				parts = append([]string{s.Value[:min(12, len(s.Value))]}, parts...)
			case "vcs.time":
				parts = append(parts, s.Value)
			case "vcs.modified":
				if s.Value == "true" {
					parts = append(parts, "modified")
				}
			}
		}
		if len(parts) > 0 {
			rev = " (" + strings.Join(parts, ", ") + ")"
		}
	}
	if buildVersion != "" && version == "(devel)" {
		version = buildVersion
	}
	return fmt.Sprintf("offgrid %s%s %s %s/%s", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func pricesCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "prices",
		Short: "Show this host's prices; `prices set` changes them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			resp, err := answer[gen.Announce](c.GetAnnounce(cmd.Context()))
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), resp.Prices)
			}
			printPrices(cmd.OutOrStdout(), resp.Prices)
			return nil
		},
	}
	o.flags(cmd)
	cmd.AddCommand(pricesSetCmd(getenv))
	return cmd
}

func printPrices(w io.Writer, p gen.Prices) {
	fmt.Fprintf(w, "compute %s credits per million tokens, storage %s credits per gigabyte-hour\n", p.Compute, p.Storage)
}

func pricesSetCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:     "set compute=PRICE storage=PRICE",
		Short:   "Change this host's prices (credits per unit); a price not given stays",
		Example: "  offgrid prices set compute=2.5 storage=0.2\n  offgrid prices set storage=0.15",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p gen.PricesUpdate
			for _, arg := range args {
				kind, value, ok := strings.Cut(arg, "=")
				var dst **gen.Amount
				switch kind {
				case "compute":
					dst = &p.Compute
				case "storage":
					dst = &p.Storage
				}
				if !ok || dst == nil {
					return fmt.Errorf("want compute=PRICE or storage=PRICE, not %q", arg)
				}
				if *dst != nil {
					return fmt.Errorf("%s is given twice", kind)
				}
				amount, err := parseAmount(kind+" price", value)
				if err != nil {
					return err
				}
				*dst = &amount
			}
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			resp, err := answer[gen.Announce](c.UpdateAnnounce(cmd.Context(), gen.UpdateAnnounceJSONRequestBody{Prices: &p}))
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), resp.Prices)
			}
			fmt.Fprint(cmd.OutOrStdout(), "prices now: ")
			printPrices(cmd.OutOrStdout(), resp.Prices)
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}

func announceCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "announce",
		Short: "Show what this host announces: identity, endpoint, state, prices and on-call settings",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			resp, err := c.GetAnnounceWithResponse(cmd.Context())
			if err != nil {
				return err
			}
			a := resp.JSON200
			if a == nil {
				return unexpected(resp)
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), a)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "name:      %s\n", a.Name)
			fmt.Fprintf(w, "node ID:   %s\n", a.NodeId)
			fmt.Fprintf(w, "endpoint:  %s\n", a.Endpoint)
			fmt.Fprintf(w, "state:     %s\n", activeWord(a.Active))
			fmt.Fprint(w, "prices:    ")
			printPrices(w, a.Prices)
			fmt.Fprintf(w, "on-call:   min %d%%, burst max %d%%\n", a.MinOncallPercent, a.BurstPercentMax)
			fmt.Fprintf(w, "updated:   %s\n", a.UpdatedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}
