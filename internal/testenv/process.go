package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Process is a child process a test runs, such as kube-controller-manager
// or a kubelet, with its output captured in a log file.
type Process struct {
	// Name names the process in messages and its log file.
	Name string
	// LogPath is the file holding the process's stdout and stderr.
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StopTimeout is how long Stop waits after SIGTERM before it kills.
const StopTimeout = 10 * time.Second

// logTail bounds the output a failed test prints per process.
const logTail = 48 << 10

// StartProcess starts bin with args, its stdout and stderr going to
// <dir>/<name>.log. When t ends the process is stopped and, if t failed,
// the end of its output is logged.
func StartProcess(t testing.TB, dir, name, bin string, args ...string) *Process {
	t.Helper()
	return StartCommand(t, dir, name, exec.Command(bin, args...))
}

// StartCommand is StartProcess for a command the caller prepared (its
// environment, process attributes); its Stdout and Stderr are set here.
func StartCommand(t testing.TB, dir, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("creating the log of %s: %v", name, err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s output (%s):\n%s", name, logPath, p.Tail(logTail))
		}
	})
	return p
}

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// CheckRunning fails t, with the end of the process's output, when the
// process has ended.
func (p *Process) CheckRunning(t testing.TB) {
	t.Helper()
	if exited, err := p.Exited(); exited {
		t.Fatalf("%s exited (%v); its output:\n%s", p.Name, err, p.Tail(logTail))
	}
}

// Stop sends SIGTERM, waits up to StopTimeout for the process to end, and
// kills it otherwise. It may be called more than once.
func (p *Process) Stop() {
	if exited, _ := p.Exited(); exited {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(StopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Tail returns at most the last n bytes of the process's output.
func (p *Process) Tail(n int64) string {
	f, err := os.Open(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.LogPath, err)
	}
	defer func() { _ = f.Close() }()
	info, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.LogPath, err)
	}
	offset := max(info.Size()-n, 0)
	buf := make([]byte, info.Size()-offset)
	if _, err := f.ReadAt(buf, offset); err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.LogPath, err)
	}
	if offset > 0 {
		return fmt.Sprintf("[... %d bytes cut ...]\n%s", offset, buf)
	}
	return string(buf)
}

// FreePort returns a TCP port that was free on all local addresses a moment
// ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer func() { _ = l.Close() }()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		t.Fatal(errors.New("listener address is not TCP"))
	}
	return addr.Port
}
