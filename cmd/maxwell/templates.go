package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/maxwell-milter/maxwell/templates"
)

// templatesCheck reports the DSN templates of DIR that do not parse or
// use a field that does not exist, and files that are no template.
func templatesCheck(args []string) int {
	if len(args) != 1 {
		fmt.Fprint(os.Stderr, "usage: maxwell templates check DIR\n")
		return exitUsage
	}
	dir := args[0]
	files, err := os.ReadDir(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitFailure
	}
	status := exitOK
	for _, f := range files {
		name := strings.TrimSuffix(f.Name(), ".txt")
		if !strings.HasSuffix(f.Name(), ".txt") || !slices.Contains(templates.Names, name) {
			fmt.Fprintf(os.Stderr, "%s: not a DSN template (known: %s.txt)\n", filepath.Join(dir, f.Name()), strings.Join(templates.Names, ".txt, "))
			status = exitUsage
		}
	}
	if _, err := templates.Load(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitUsage
	}
	if status == exitOK {
		fmt.Printf("%s: ok\n", dir)
	}
	return status
}
