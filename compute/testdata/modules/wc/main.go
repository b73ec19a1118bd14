// Command wc counts the lines, words and bytes of its standard input, like
// wc(1), and prints them as "lines words bytes".
package main

import (
	"bufio"
	"fmt"
	"os"
	"unicode"
)

func main() {
	r := bufio.NewReader(os.Stdin)
	var lines, words, bytes int
	inWord := false
	for {
		c, size, err := r.ReadRune()
		if err != nil {
			break
		}
		bytes += size
		if c == '\n' {
			lines++
		}
		if unicode.IsSpace(c) {
			inWord = false
		} else if !inWord {
			inWord = true
			words++
		}
	}
	fmt.Printf("%d %d %d\n", lines, words, bytes)
}
