// Command fakecri serves the fake CRI runtime and image services from
// k8s.io/cri-client/pkg/fake on a unix socket, so that a real kubelet can run
// without a container runtime in end-to-end tests.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cri-client/pkg/fake"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fakecri:", err)
		os.Exit(1)
	}
}

func run() error {
	endpoint := flag.String("listen", "", "unix socket path to serve the CRI on, e.g. /tmp/fakecri.sock")
	flag.Parse()
	if *endpoint == "" {
		return fmt.Errorf("--listen is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	server := fake.NewFakeRemoteRuntime()
	if err := server.Start("unix://" + *endpoint); err != nil {
		return fmt.Errorf("starting fake CRI on %s: %w", *endpoint, err)
	}
	fmt.Fprintln(os.Stderr, "fakecri: serving on", *endpoint)
	<-ctx.Done()
	server.Stop()
	return nil
}
