// Command loop never ends: a hostile module that only a wall-time limit stops.
package main

var counter uint64

func main() {
	for {
		counter++
	}
}
