// Command dispatchd receives webhooks and delivers jobs. See README.md.
//
//	dispatchd serve         run the service (every role by default)
//	dispatchd check-config  validate the settings and the declarative file, then exit
//	dispatchd keys          create, list or revoke API keys
//	dispatchd encryption    generate a key, or re-encrypt the secrets under a new one
//	dispatchd version       print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// gcPercent is the garbage collector's target when GOGC is not set. The
// heap a busy dispatchd keeps live is small (tens of MiB: SQLite's page
// cache is not on the Go heap), and the collector's default of 100 ran
// often enough to take about a tenth of the CPU under ingest load (make
// bench, profiled); at 400 the heap may grow to five times what is live
// between collections instead of twice, for that CPU. GOGC (and
// GOMEMLIMIT) still decide when set.
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "dispatchd:", err)
	}
	os.Exit(exitCode(err))
}

// exitCode is the process's exit status after run: asking for help
// (-h, --help, of any command) is a success, like the usage it printed.
func exitCode(err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

const usage = `Usage: dispatchd <command> [flags]

Commands:
  serve          run the service (HTTP gateway and gRPC)
  check-config   validate the settings and the declarative file, then exit
  keys           create, list or revoke API keys (in the database)
  encryption     generate-key, or rotate: re-encrypt the stored secrets
  version        print the version

Run "dispatchd <command> -h" for the flags of a command.
`

// run is the whole program; main only adds the process's signals,
// environment and standard streams, so tests can run it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, getenv, stdout, stderr)
	case "check-config":
		return checkConfig(ctx, rest, getenv, stdout, stderr)
	case "keys":
		return keysCommand(ctx, rest, getenv, stdout, stderr)
	case "encryption":
		return encryptionCommand(ctx, rest, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "dispatchd", version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
