// Command oneshot runs an AI coding agent on a task, has a second agent audit the
// result, and feeds the auditor's feedback back until the task is done.
package main

import (
	"context"
	"os"

	"github.com/oneshot-run/oneshot/internal/cli"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	os.Exit(cli.Main(context.Background(), cli.OSEnv(version), os.Args[1:]))
}
