package main

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/nodetrust/nodetrust/internal/testenv"
)

// env is the control plane of the integration tests; nil under -short.
var env *testenv.Env

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	os.Exit(testenv.Run(m, func(e *testenv.Env) { env = e }))
}

// result is what one run of the plugin did.
type result struct {
	code           int
	stdout, stderr string
}

// runPlugin runs the plugin's entry point with args.
func runPlugin(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}
