//go:build linux

package e2e_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The kubelet runs in a network namespace the test creates, joined to the
// host by a veth pair on a /30 of its own: the kubelet's node address is
// the namespace's end, and the test, kube-apiserver included, sends traffic
// only to loopback and to that address. From inside, the kubelet reaches
// kube-apiserver at the host's end of the pair, where the test forwards
// connections to kube-apiserver on 127.0.0.1 (apiServerForwarder); the
// namespace has no default route, so the kubelet reaches nothing else.
//
// Everything is named after the test binary's PID. The test removes it when
// it ends; what a test binary that died without cleaning up (killed, or a
// -timeout panic) left behind is removed by the next run.

const (
	// netnsPrefix names the namespaces, under /var/run/netns.
	netnsPrefix = "nodetrust-e2e-"
	// hostLinkPrefix and nodeLinkPrefix name the ends of the veth pair (at
	// most 15 bytes with a PID).
	hostLinkPrefix = "nte2e-h"
	nodeLinkPrefix = "nte2e-n"
	netnsDir       = "/var/run/netns"
)

// nodeSubnets is where the /30 of the veth pair is chosen: private, and
// unlikely to be in use; a /30 that overlaps a route is skipped.
var nodeSubnets = netip.MustParsePrefix("10.213.0.0/16")

// nodeNetwork is the kubelet's network namespace and its link to the host.
type nodeNetwork struct {
	// netns is the namespace's name (ip netns), hostLink and nodeLink the
	// ends of the veth pair outside and inside it.
	netns, hostLink, nodeLink string
	// hostIP is the host's end, nodeIP the kubelet's.
	hostIP, nodeIP net.IP
	subnet         netip.Prefix
}

// netnsPath is what nsenter --net enters.
func (n *nodeNetwork) netnsPath() string { return netnsDir + "/" + n.netns }

// setupNodeNetwork creates the kubelet's network namespace and its veth
// pair, addressed and up. On error, nothing is left behind.
func setupNodeNetwork() (*nodeNetwork, error) {
	sweepStaleNetworks()
	pid := os.Getpid()
	subnet, err := freeSubnet(pid)
	if err != nil {
		return nil, err
	}
	host := subnet.Addr().Next()
	node := host.Next()
	n := &nodeNetwork{
		netns:    netnsPrefix + strconv.Itoa(pid),
		hostLink: hostLinkPrefix + strconv.Itoa(pid),
		nodeLink: nodeLinkPrefix + strconv.Itoa(pid),
		hostIP:   net.IP(host.AsSlice()),
		nodeIP:   net.IP(node.AsSlice()),
		subnet:   subnet,
	}
	bits := "/" + strconv.Itoa(subnet.Bits())
	steps := [][]string{
		{"netns", "add", n.netns},
		// The namespace's end is created in the namespace.
		{"link", "add", n.hostLink, "type", "veth", "peer", "name", n.nodeLink, "netns", n.netns},
		{"addr", "add", host.String() + bits, "dev", n.hostLink},
		{"link", "set", n.hostLink, "up"},
		{"-n", n.netns, "link", "set", "lo", "up"},
		{"-n", n.netns, "addr", "add", node.String() + bits, "dev", n.nodeLink},
		{"-n", n.netns, "link", "set", n.nodeLink, "up"},
	}
	for _, args := range steps {
		if err := ip(args...); err != nil {
			return nil, errors.Join(err, n.teardown())
		}
	}
	return n, nil
}

// teardown deletes the host's end of the veth pair (which deletes the other
// end) and the namespace, by name, whichever of them exist. It may be
// called more than once.
func (n *nodeNetwork) teardown() error {
	return removeNodeNetwork(n.netns, n.hostLink)
}

func removeNodeNetwork(netns, hostLink string) error {
	var errs []error
	if ip("link", "show", "dev", hostLink) == nil {
		errs = append(errs, ip("link", "delete", "dev", hostLink))
	}
	if _, err := os.Stat(netnsDir + "/" + netns); err == nil {
		errs = append(errs, ip("netns", "delete", netns))
	}
	return errors.Join(errs...)
}

// sweepStaleNetworks removes the namespaces, and their veth pairs, of test
// binaries that are no longer running.
func sweepStaleNetworks() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for line := range strings.Lines(string(out)) {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pid, err := strconv.Atoi(strings.TrimPrefix(name, netnsPrefix))
		if !strings.HasPrefix(name, netnsPrefix) || err != nil || pid <= 0 {
			continue
		}
		// This binary has created nothing yet: one named after its PID is
		// from an earlier process that had the same PID.
		if err := syscall.Kill(pid, 0); pid != os.Getpid() && !errors.Is(err, syscall.ESRCH) {
			continue // still running, or not ours to judge
		}
		if err := removeNodeNetwork(name, hostLinkPrefix+strconv.Itoa(pid)); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: removing the network namespace %s of an earlier run: %v\n", name, err)
		}
	}
}

// freeSubnet returns a /30 in nodeSubnets that overlaps no route of this
// machine's (local addresses included), starting from one that depends on
// pid so that concurrent runs are unlikely to pick the same.
func freeSubnet(pid int) (netip.Prefix, error) {
	out, err := exec.Command("ip", "-4", "-json", "route", "show", "table", "all").Output()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("listing routes: %w", err)
	}
	var routes []struct {
		Dst string `json:"dst"`
	}
	if err := json.Unmarshal(out, &routes); err != nil {
		return netip.Prefix{}, fmt.Errorf("parsing the output of ip route: %w", err)
	}
	var used []netip.Prefix
	for _, r := range routes {
		if p, err := netip.ParsePrefix(r.Dst); err == nil {
			used = append(used, p)
		} else if a, err := netip.ParseAddr(r.Dst); err == nil {
			used = append(used, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	const bits = 30
	n := 1 << (bits - nodeSubnets.Bits())
	base := nodeSubnets.Addr().As4()
	first := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
next:
	for i := range n {
		v := first + uint32((pid+i)%n)<<(32-bits)
		candidate := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits)
		for _, u := range used {
			if u.Overlaps(candidate) {
				continue next
			}
		}
		return candidate, nil
	}
	return netip.Prefix{}, fmt.Errorf("every /%d of %s overlaps a route of this machine", bits, nodeSubnets)
}

// ip runs ip(8) with args.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// apiServerForwarder accepts connections at an address the kubelet's
// namespace reaches and relays them, bytes only, to kube-apiserver on
// 127.0.0.1: TLS is between the kubelet and kube-apiserver, whose serving
// certificate also names the forwarder's address.
type apiServerForwarder struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// forwardAPIServer listens on host (any free port) and relays to the
// host:port of apiServerURL.
func forwardAPIServer(host net.IP, apiServerURL string) (*apiServerForwarder, error) {
	u, err := url.Parse(apiServerURL)
	if err != nil {
		return nil, fmt.Errorf("parsing kube-apiserver's URL: %w", err)
	}
	if u.Port() == "" {
		return nil, fmt.Errorf("kube-apiserver's URL %q has no port", apiServerURL)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host.String(), "0"))
	if err != nil {
		return nil, fmt.Errorf("listening on %s for the kubelet: %w", host, err)
	}
	f := &apiServerForwarder{ln: ln, target: u.Host, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

// addr is the host:port the kubelet connects to.
func (f *apiServerForwarder) addr() string { return f.ln.Addr().String() }

func (f *apiServerForwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go f.relay(c)
	}
}

func (f *apiServerForwarder) relay(down net.Conn) {
	defer f.wg.Done()
	up, err := net.DialTimeout("tcp", f.target, 10*time.Second)
	if err != nil {
		_ = down.Close()
		return
	}
	if !f.track(down, up) {
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(up, down)
	go pipe(down, up)
	<-done // either side ended: end both
	_ = down.Close()
	_ = up.Close()
	<-done
	f.mu.Lock()
	delete(f.conns, down)
	delete(f.conns, up)
	f.mu.Unlock()
}

// track records the connections for close, or closes them when the
// forwarder is closed already.
func (f *apiServerForwarder) track(conns ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		for _, c := range conns {
			_ = c.Close()
		}
		return false
	}
	for _, c := range conns {
		f.conns[c] = struct{}{}
	}
	return true
}

// close stops listening, ends every relayed connection and waits for the
// relays to return.
func (f *apiServerForwarder) close() {
	f.mu.Lock()
	f.closed = true
	_ = f.ln.Close()
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}
