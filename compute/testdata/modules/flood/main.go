// Command flood writes to its standard output without end: a hostile module
// that only an output limit stops.
package main

import (
	"bytes"
	"os"
)

func main() {
	line := bytes.Repeat([]byte("flood "), 1024)
	for {
		// A write error (the host's limit) is ignored on purpose: a hostile
		// module does not stop by itself.
		_, _ = os.Stdout.Write(line)
	}
}
