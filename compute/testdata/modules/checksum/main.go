// Command checksum prints the SHA-256 of its standard input in hex.
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
)

func main() {
	h := sha256.New()
	if _, err := io.Copy(h, os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%x\n", h.Sum(nil))
}
