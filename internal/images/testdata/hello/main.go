// Command hello is a tiny program for the tests to put into images.
package main

import "fmt"

func main() { fmt.Println("hello") }
