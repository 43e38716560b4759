package main

import (
	"fmt"
	"io"
)

// The web console (package console): the first merchant's key signs in.
func init() {
	demoSections = append(demoSections, func(w io.Writer, url string, d *demoData) {
		fmt.Fprintf(w, "\nOpen the web console at %s/console and paste the API key of %s printed above.\n", url, d.merchant.Name)
	})
}
