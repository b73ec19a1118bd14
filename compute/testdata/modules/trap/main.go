// Command trap dereferences a nil pointer: a module that fails at run time.
package main

import "fmt"

type node struct{ next *node }

func main() {
	var n *node
	fmt.Println(n.next)
}
