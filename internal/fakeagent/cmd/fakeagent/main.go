// Command fakeagent stands in for agent CLIs in tests: link it as claude, codex,
// gemini, aider, cline or any other name. See package fakeagent.
package main

import (
	"os"

	"github.com/oneshot-run/oneshot/internal/fakeagent"
)

func main() {
	os.Exit(fakeagent.Main())
}
