// Command membomb allocates memory without bound and keeps all of it: a
// hostile module that only a memory limit stops.
package main

var kept [][]byte

func main() {
	for {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = byte(i)
		}
		kept = append(kept, b)
	}
}
