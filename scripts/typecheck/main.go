package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"golang.org/x/tools/go/packages"
)

func main() {
	target := flag.String("target", "", "GOOS/GOARCH to check for, e.g. linux/arm64")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: typecheck -target GOOS/GOARCH PACKAGE...")
		os.Exit(2)
	}
	total, errs, err := check(*target, "", flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "typecheck:", err)
		os.Exit(2)
	}
	for _, e := range errs {
		fmt.Fprintln(os.Stderr, e)
	}
	if len(errs) > 0 {
		fmt.Fprintf(os.Stderr, "typecheck: %d errors for %s\n", len(errs), *target)
		os.Exit(1)
	}
	fmt.Printf("typecheck: %d packages type-check for %s\n", total, *target)
}

// check loads patterns (relative to dir, "" for the working directory)
// with their dependencies for target and type-checks them all. It returns
// how many packages it checked and their errors; err is for a target or
// pattern it could not load at all.
func check(target, dir string, patterns []string) (int, []packages.Error, error) {
	goos, goarch, ok := strings.Cut(target, "/")
	if !ok || goos == "" || goarch == "" {
		return 0, nil, fmt.Errorf("target %q: want GOOS/GOARCH, e.g. linux/arm64", target)
	}
	cfg := &packages.Config{
		// NeedDeps and NeedSyntax: every dependency is type-checked from
		// source, function bodies included, under the target's build
		// constraints and its sizes of int and uintptr.
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedImports | packages.NeedDeps |
			packages.NeedTypes | packages.NeedSyntax,
		Env: append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0"),
		Dir: dir,
	}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		return 0, nil, err
	}
	total := 0
	var errs []packages.Error
	packages.Visit(pkgs, nil, func(p *packages.Package) {
		total++
		errs = append(errs, p.Errors...)
	})
	return total, errs, nil
}
