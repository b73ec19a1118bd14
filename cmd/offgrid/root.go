package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// env reads environment variables; tests pass their own.
type env func(string) string

// run builds the command tree and executes args.
func run(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	root := &cobra.Command{
		Use:           "offgrid",
		Short:         "Offgrid-Net: storage, compute and honest accounts for off-grid meshes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(flagError)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.AddCommand(
		nodeCmd(getenv),
		demoCmd(getenv),
		keysCmd(getenv),
		toggleCmd(getenv),
		quoteCmd(getenv),
		runJobCmd(getenv),
		statusCmd(getenv),
		receiptsCmd(getenv),
		storeCmd(getenv),
		fetchCmd(getenv),
		putCmd(getenv),
		getCmd(getenv),
		assetsCmd(getenv),
		repairCmd(getenv),
		rmCmd(getenv),
		shareCmd(getenv),
		importCmd(getenv),
		ecCmd(),
		policyCmd(getenv),
		stressCmd(getenv),
		peersCmd(getenv),
		clusterCmd(getenv),
		transferCmd(getenv),
		balancesCmd(getenv),
		txCmd(getenv),
		settleCmd(getenv),
		owedCmd(getenv),
		bleNameCmd(),
		versionCmd(),
		pricesCmd(getenv),
		announceCmd(getenv),
		ledgerCmd(getenv),
		quorumCmd(getenv),
		jobCmd(getenv),
		jobsCmd(getenv),
		brokerCmd(getenv),
		repCmd(getenv),
	)
	return root.ExecuteContext(ctx)
}

// envName is the environment variable for a flag: --admin-token is
// OFFGRID_ADMIN_TOKEN.
func envName(flag string) string {
	return "OFFGRID_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets each flag the user did not give from its OFFGRID_*
// variable, so flags beat the environment.
func applyEnv(fs *pflag.FlagSet, getenv env) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, serr)
			}
		}
	})
	return err
}

// ConfigFile is the optional TOML file in a node's data directory. Its keys
// are flag names (e.g. listen = "0.0.0.0:8081", peers = ["http://..."]).
const ConfigFile = "offgrid.toml"

// applyTOML sets flags that neither the command line nor the environment
// gave from the data directory's offgrid.toml. Unknown keys are an error, so
// a typo does not go unnoticed.
func applyTOML(fs *pflag.FlagSet, dataDir string) error {
	path := filepath.Join(dataDir, ConfigFile)
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var values map[string]any
	if err := toml.Unmarshal(b, &values); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	for key, v := range values {
		f := fs.Lookup(key)
		if f == nil {
			return fmt.Errorf("%s: unknown setting %q", path, key)
		}
		if f.Changed {
			continue
		}
		s := fmt.Sprint(v)
		if list, ok := v.([]any); ok {
			parts := make([]string, len(list))
			for i, p := range list {
				parts[i] = fmt.Sprint(p)
			}
			s = strings.Join(parts, ",")
		}
		if err := fs.Set(key, s); err != nil {
			return fmt.Errorf("%s: %s: %w", path, key, err)
		}
	}
	return nil
}
