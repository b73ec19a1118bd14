package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// readmeFlagRow matches a row of README.md's flag tables: the flag (or
// several, comma-separated), an optional env column, the default.
var readmeFlagRow = regexp.MustCompile("^\\| (`--[^|]+) \\|(?: `OFFGRID_[A-Z_]+` \\|)? ([^|]+) \\|")

// descriptive defaults are README words for "nothing set" or "derived".
var descriptive = map[string]bool{
	"none": true, "off": true, "–": true, "-": true, "system default": true, "saved or random": true,
	"host name": true, "http://LISTEN": true, "DATA/mesh.json": true, "k+2": true, "API host, any port": true,
}

// TestFlagDefaultsMatchREADME: every flag of `offgrid node` is in README's
// tables with the default the flag really has (the flags take theirs from
// node.DefaultConfig), so the documented defaults are the true ones.
func TestFlagDefaultsMatchREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	for _, line := range strings.Split(string(readme), "\n") {
		m := readmeFlagRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		names := strings.Split(m[1], ",")
		defs := []string{m[2]}
		if len(names) > 1 {
			defs = strings.Split(m[2], ",")
		}
		for i, name := range names {
			name = strings.Trim(strings.TrimSpace(name), "`")
			name, _, _ = strings.Cut(name, " ") // "--batman IFACE"
			def := defs[min(i, len(defs)-1)]
			documented[strings.TrimPrefix(name, "--")] = strings.Trim(strings.TrimSpace(def), "`")
		}
	}
	cmd := nodeCmd(func(string) string { return "" })
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		doc, ok := documented[f.Name]
		if !ok {
			t.Errorf("flag --%s (default %q) is not in README.md's flag tables", f.Name, f.DefValue)
			return
		}
		if !sameDefault(f.DefValue, doc) {
			t.Errorf("flag --%s: README.md says the default is %q, the flag's is %q", f.Name, doc, f.DefValue)
		}
	})
}

// sameDefault compares a flag's default with README's wording of it.
func sameDefault(flag, doc string) bool {
	switch {
	case flag == doc, "["+doc+"]" == flag:
		return true
	case descriptive[doc]:
		return flag == "" || flag == "0" || flag == "false" || flag == "[]"
	}
	if a, err := time.ParseDuration(flag); err == nil {
		b, err := time.ParseDuration(doc)
		return err == nil && a == b
	}
	if a, err := strconv.ParseFloat(flag, 64); err == nil {
		b, err := strconv.ParseFloat(doc, 64)
		return err == nil && a == b
	}
	return false
}
