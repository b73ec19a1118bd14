// Command offgrid runs an Offgrid-Net node (`offgrid node`), a local demo
// mesh (`offgrid demo`), and the clients and offline tools that talk to a
// node. `offgrid --help` lists every command.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "offgrid: %v\n", err)
		os.Exit(1)
	}
}
