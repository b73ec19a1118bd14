// Command membomb allocates memory without bound and keeps all of it: a
// hostile module that only a memory limit stops.
package main

var kept [][]byte

func main() {
	for {
		b := make([]byte, 1<<20)
		// One write per page is enough: the memory is the module's once
		// grown, written or not.
		for i := 0; i < len(b); i += 4096 {
			b[i] = byte(i >> 12)
		}
		kept = append(kept, b)
	}
}
