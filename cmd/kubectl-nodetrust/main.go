package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// Exit codes of the plugin.
const (
	exitOK        = 0
	exitError     = 1 // the cluster could not be read
	exitUsage     = 2 // bad command line
	exitAnomalies = 3 // audit found anomalies selected by --fail-on
)

// pluginName is how users invoke the plugin, for messages.
const pluginName = "kubectl nodetrust"

func main() {
	// Nothing here logs through controller-runtime; say so, so that it never
	// complains that no logger was set.
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	// flags registers the command's flags and returns the function that
	// runs it once they are parsed.
	flags func(fs *pflag.FlagSet) func(ctx context.Context, io streams) int
	// help is printed after the usage line and before the flags.
	help string
}

// streams are where a command writes.
type streams struct {
	out, err io.Writer
}

var commands = []command{auditCommand, reviewCommand}

// run runs the plugin with args (without the program name) and returns the
// exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "error: internal error: %v\n", r)
			code = exitError
		}
	}()
	s := streams{out: stdout, err: stderr}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		if len(args) > 1 && args[0] == "help" {
			if c, ok := lookup(args[1]); ok {
				fs := newFlagSet(c)
				c.flags(fs)
				commandUsage(stdout, c, fs)
				return exitOK
			}
			return usageError(s, "", fmt.Errorf("unknown command %q", args[1]))
		}
		usage(stdout)
		return exitOK
	}
	c, ok := lookup(args[0])
	if !ok {
		if strings.HasPrefix(args[0], "-") {
			return usageError(s, "", fmt.Errorf("a command must come before flags; got %q", args[0]))
		}
		return usageError(s, "", fmt.Errorf("unknown command %q", args[0]))
	}
	fs := newFlagSet(c)
	runCommand := c.flags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			commandUsage(stdout, c, fs)
			return exitOK
		}
		return usageError(s, c.name, err)
	}
	if fs.NArg() > 0 {
		return usageError(s, c.name, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	return runCommand(ctx, s)
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func newFlagSet(c command) *pflag.FlagSet {
	fs := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = true
	return fs
}

// usageError reports a bad command line and returns exitUsage.
func usageError(s streams, cmd string, err error) int {
	fmt.Fprintf(s.err, "error: %v\n", err)
	if cmd == "" {
		fmt.Fprintf(s.err, "Run '%s --help' for usage.\n", pluginName)
	} else {
		fmt.Fprintf(s.err, "Run '%s %s --help' for usage.\n", pluginName, cmd)
	}
	return exitUsage
}

// fail reports an error reading the cluster and returns exitError.
func fail(s streams, err error) int {
	fmt.Fprintf(s.err, "error: %v\n", err)
	return exitError
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `kubectl-nodetrust inspects nodetrust's kubelet certificate records and review queue.

Usage:
  %s <command> [flags]

Commands:
`, pluginName)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `
Run '%s <command> --help' for a command's flags.

Exit codes:
  0  success
  1  the cluster could not be read (kubeconfig, connection, permissions)
  2  usage error (unknown command or flag, bad flag value)
  3  audit found an anomaly selected by --fail-on
`, pluginName)
}

func commandUsage(w io.Writer, c command, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "%s\n\nUsage:\n  %s %s [flags]\n\n%s\nFlags:\n%s", c.summary, pluginName, c.name,
		c.help, fs.FlagUsages())
}
