// Command upper copies its standard input to its standard output in upper
// case: a text transform whose output is as large as its input.
package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
)

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	if _, err := w.Write(bytes.ToUpper(in)); err != nil {
		os.Exit(1)
	}
	if err := w.Flush(); err != nil {
		os.Exit(1)
	}
}
