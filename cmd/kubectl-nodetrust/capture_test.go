package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodetrust/nodetrust/api/v1alpha1"
	"github.com/nodetrust/nodetrust/internal/testenv"
)

var update = flag.Bool("update", false, "TestAuditDocIsCurrent: rewrite the golden blocks of docs/audit.md from a fresh run")

// updateCommand refreshes the golden blocks of docs/audit.md.
const updateCommand = "go test ./cmd/kubectl-nodetrust/ -run TestAuditDocIsCurrent -update"

// goldenStep is one run of the plugin whose output docs/audit.md shows.
type goldenStep struct {
	// as is who runs it: "" for a user holding exactly the documented
	// nodetrust-auditor rules, "bob" for a user without any RBAC.
	as   string
	args []string
}

// marker is the HTML comment on the line before the opening fence of the
// step's ```console block in docs/audit.md: the command line, and who runs
// it when that is not the auditor:
//
//	<!-- golden: kubectl nodetrust audit --node worker-2 -o yaml -->
//	<!-- golden as bob: kubectl nodetrust audit -->
func (s goldenStep) marker() string {
	as := ""
	if s.as != "" {
		as = " as " + s.as
	}
	return "<!-- golden" + as + ": kubectl nodetrust " + strings.Join(s.args, " ") + " -->"
}

// goldenSteps are the outputs docs/audit.md shows for the six-node example.
var goldenSteps = []goldenStep{
	{args: []string{"audit"}},
	{args: []string{"audit", "--node", "worker-2", "--fail-on", "expired,expiring,no-serving"}},
	{args: []string{"audit", "--node", "worker-2", "-o", "yaml"}},
	{args: []string{"review"}},
	{args: []string{"review", "-o", "yaml"}},
	{as: "bob", args: []string{"audit"}},
}

// TestAuditDocIsCurrent checks the example output of docs/audit.md. It
// sets up a small cluster (a healthy control-plane node and worker, a worker
// whose client certificate was not renewed, one without a serving
// certificate, one whose address changed, one whose serving certificate was
// approved by hand, and a deleted node whose certificates remain) and two
// CSRs waiting for review, builds the plugin and runs the binary against it
// for each goldenStep, as a user with the documented RBAC (and once as a user
// without any). Each transcript must equal the ```console block of
// docs/audit.md that the step's marker precedes, once both are normalised
// (see normalisers). With -update it rewrites those blocks from the run
// instead, with the real values:
//
//	go test ./cmd/kubectl-nodetrust/ -run TestAuditDocIsCurrent -update
//
// It deletes every Node, NodeCertificate and CSR of the test API server
// before and after.
func TestAuditDocIsCurrent(t *testing.T) {
	testenv.Require(t, env)
	docPath := filepath.Join(testenv.RepoRoot(), "docs", "audit.md")
	docBytes, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(docBytes)
	blocks, err := goldenBlocks(doc)
	if err != nil {
		t.Fatalf("docs/audit.md: %v", err)
	}
	for _, s := range goldenSteps {
		if _, ok := blocks[s.marker()]; !ok {
			t.Errorf("docs/audit.md has no block marked %s: put the marker on the line before the opening fence of that output's ```console block", s.marker())
		}
	}
	for m, b := range blocks {
		if !slices.ContainsFunc(goldenSteps, func(s goldenStep) bool { return s.marker() == m }) {
			t.Errorf("docs/audit.md:%d: marker %s names no step of TestAuditDocIsCurrent (goldenSteps)", b.line, m)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Built first, so that the CSRs are seconds old when review runs.
	bin := buildPlugin(t)
	got := runGoldenSteps(t, bin)

	if *update {
		if updated := rewriteGolden(doc, blocks, got); updated != doc {
			info, err := os.Stat(docPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(docPath, []byte(updated), info.Mode().Perm()); err != nil {
				t.Fatal(err)
			}
			t.Logf("rewrote the golden blocks of %s from this run", docPath)
		}
		return
	}

	stale := 0
	for _, s := range goldenSteps {
		b := blocks[s.marker()]
		want, have := normalise(b.content), normalise(got[s.marker()])
		if want != have {
			stale++
			t.Errorf("docs/audit.md:%d: the block after %s is not what the plugin prints now.\n"+
				"Compared after normalising values that differ between runs (%s); - doc, + plugin:\n%s",
				b.line, s.marker(), normalisedTokens(), lineDiff(want, have))
		}
	}
	if stale > 0 {
		t.Errorf("%d of the %d golden blocks of docs/audit.md are stale. If the plugin's output changed on purpose, refresh them from a fresh run with\n\t%s\nand review the diff of docs/audit.md.",
			stale, len(goldenSteps), updateCommand)
	}
}

// runGoldenSteps creates the example cluster and returns the transcript of
// each goldenStep, by marker: the command line, what the binary printed
// (standard output and error), and its exit code when that is not 0.
func runGoldenSteps(t *testing.T, bin string) map[string]string {
	t.Helper()
	wipe(t)
	t.Cleanup(func() { wipe(t) })
	now := time.Now()

	type node struct {
		name  string
		addrs []string
	}
	nodes := []node{
		{"cp-1", []string{"InternalIP=10.0.0.10", "Hostname=cp-1"}},
		{"worker-1", []string{"InternalIP=10.0.1.11", "Hostname=worker-1"}},
		{"worker-2", []string{"InternalIP=10.0.1.12", "Hostname=worker-2"}},
		{"worker-3", []string{"InternalIP=10.0.1.13", "Hostname=worker-3"}},
		// worker-4 came back with a new address after maintenance.
		{"worker-4", []string{"InternalIP=10.0.1.24", "Hostname=worker-4"}},
		{"worker-5", []string{"InternalIP=10.0.1.15", "Hostname=worker-5"}},
	}
	for _, n := range nodes {
		createNode(t, n.name, n.addrs...)
	}
	client := func(node string, requested, lifetime time.Duration) cert {
		return cert{node: node, kind: v1alpha1.CertificateClient, requested: requested, lifetime: lifetime}
	}
	serving := func(node, ip string, requested, lifetime time.Duration) cert {
		return cert{node: node, kind: v1alpha1.CertificateServing, requested: requested, lifetime: lifetime,
			dnsNames: []string{node}, ips: []string{ip}}
	}
	const year = 365 * day
	controlPlane := func(c cert) cert { c.policy = "control-plane"; return c }
	externalServing := serving("worker-5", "10.0.1.15", -40*day, year)
	externalServing.external = true
	// Every certificate is dated relative to now, by whole days (worker-2's
	// client certificate 3 hours more), so that the relative times the
	// plugin prints ("(in 344d)", "expires in 12d") are the same in every run
	// that lists them within about 3 hours of creating them.
	createRecords(t, now,
		// Rotated once: the first client certificate is still valid, the second is current.
		controlPlane(client("cp-1", -300*day, year)), controlPlane(client("cp-1", -20*day, year)),
		controlPlane(serving("cp-1", "10.0.0.10", -20*day, year)),
		client("worker-1", -95*day, year), serving("worker-1", "10.0.1.11", -95*day, year),
		// The kubelet should have renewed this one weeks ago.
		client("worker-2", -year+12*day+3*time.Hour, year), serving("worker-2", "10.0.1.12", -60*day, year),
		// serverTLSBootstrap is off on worker-3, or its request waits for review.
		client("worker-3", -30*day, year),
		client("worker-4", -80*day, year), serving("worker-4", "10.0.1.14", -80*day, year),
		client("worker-5", -40*day, year), externalServing,
		// worker-6 was deleted last week; its certificates are still valid.
		client("worker-6", -150*day, year), serving("worker-6", "10.0.1.16", -150*day, year),
	)

	allowNodeCSRCreation(t)
	serverUsages := []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
	env.CreateCSR(t, testenv.CSR{Name: "csr-8x2kq", SignerName: certificatesv1.KubeletServingSignerName,
		CommonName: "system:node:worker-3", Orgs: []string{"system:nodes"}, DNSNames: []string{"worker-3"},
		IPAddresses: []net.IP{net.ParseIP("10.0.1.13")}, Usages: serverUsages}, "system:node:worker-3", "system:nodes")
	markForReview(t, "csr-8x2kq", "PolicyRequiresReview", "workers",
		`policy "workers" sends serving requests to review (serving.action: Review)`)
	env.CreateCSR(t, testenv.CSR{Name: "csr-q9w4z", SignerName: certificatesv1.KubeletServingSignerName,
		CommonName: "system:node:worker-4", Orgs: []string{"system:nodes"}, DNSNames: []string{"worker-4", "worker-4.example.internal"},
		IPAddresses: []net.IP{net.ParseIP("10.0.1.24")}, Usages: serverUsages}, "system:node:worker-4", "system:nodes")
	markForReview(t, "csr-q9w4z", "SANNotOwnedByNode", "workers",
		`DNS name "worker-4.example.internal" is not among the addresses Node worker-4 reports (Hostname worker-4, InternalIP 10.0.1.24)`)

	kubeconfigs := map[string]string{"": kubeconfig(t)}
	bob, err := env.AddUser("bob")
	if err != nil {
		t.Fatal(err)
	}
	if kubeconfigs["bob"], err = testenv.Kubeconfig(t.TempDir(), bob.Config); err != nil {
		t.Fatal(err)
	}
	transcripts := map[string]string{}
	for _, s := range goldenSteps {
		out, code := runBinary(t, bin, kubeconfigs[s.as], s.args...)
		var tr strings.Builder
		fmt.Fprintf(&tr, "$ kubectl nodetrust %s\n%s", strings.Join(s.args, " "), out)
		if out != "" && !strings.HasSuffix(out, "\n") {
			tr.WriteString("\n")
		}
		if code != exitOK {
			fmt.Fprintf(&tr, "$ echo $?\n%d\n", code)
		}
		transcripts[s.marker()] = tr.String()
	}
	return transcripts
}

// rewriteGolden returns doc with the content of each block replaced by the
// transcript of its step.
func rewriteGolden(doc string, blocks map[string]goldenBlock, transcripts map[string]string) string {
	lines := strings.Split(doc, "\n")
	ordered := make([]goldenBlock, 0, len(blocks))
	for _, b := range blocks {
		ordered = append(ordered, b)
	}
	// From the last block up, so that the indexes of the others hold.
	slices.SortFunc(ordered, func(a, b goldenBlock) int { return b.start - a.start })
	for _, b := range ordered {
		fresh := strings.Split(strings.TrimSuffix(transcripts[b.marker], "\n"), "\n")
		lines = slices.Concat(lines[:b.start], fresh, lines[b.end:])
	}
	return strings.Join(lines, "\n")
}

// goldenBlock is a ```console block of docs/audit.md preceded by a marker.
type goldenBlock struct {
	marker string
	// line is the marker's line number, from 1.
	line int
	// start and end delimit the block's lines, fences excluded, as indexes
	// of the file's lines.
	start, end int
	// content is those lines, each ending in a newline.
	content string
}

var markerLine = regexp.MustCompile(`^<!-- golden(?: as [a-z0-9-]+)?: kubectl nodetrust .* -->$`)

// goldenBlocks finds the marked blocks of doc, by marker. A marker must
// have the form of goldenStep.marker, stand alone on its line outside any
// code block, be followed by a line opening a ```console block, and appear
// once. Markers quoted inside code blocks are not markers.
func goldenBlocks(doc string) (map[string]goldenBlock, error) {
	lines := strings.Split(doc, "\n")
	blocks := map[string]goldenBlock{}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "```") {
			// Skip to the closing fence.
			end := slices.Index(lines[i+1:], "```")
			if end < 0 {
				return nil, fmt.Errorf("line %d: the code block is not closed", i+1)
			}
			i += 1 + end
			continue
		}
		if !strings.Contains(l, "<!-- golden") {
			continue
		}
		if !markerLine.MatchString(l) {
			return nil, fmt.Errorf("line %d: %q is not a marker of the form <!-- golden[ as <user>]: kubectl nodetrust <args> -->", i+1, l)
		}
		if i+1 == len(lines) || lines[i+1] != "```console" {
			return nil, fmt.Errorf("line %d: marker %s is not followed by a line ```console", i+1, l)
		}
		if prev, ok := blocks[l]; ok {
			return nil, fmt.Errorf("line %d: marker %s appears again (first on line %d)", i+1, l, prev.line)
		}
		end := slices.Index(lines[i+2:], "```")
		if end < 0 {
			return nil, fmt.Errorf("line %d: the block after marker %s is not closed", i+1, l)
		}
		b := goldenBlock{marker: l, line: i + 1, start: i + 2, end: i + 2 + end}
		for _, c := range lines[b.start:b.end] {
			b.content += c + "\n"
		}
		blocks[l] = b
		i = b.end
	}
	return blocks, nil
}

// normalisers replace, on both sides of the comparison, the values of the
// transcripts that differ from one run to the next. Everything else is
// compared exactly: column layout, serial numbers and CSR names (the
// fixtures derive them from fixed data, see serialOf), node names, anomaly
// codes and messages, relative times ("(in 344d)", "expires in 12d"), flags
// and exit codes.
var normalisers = []struct {
	re *regexp.Regexp
	// token replaces the match, or its first group when it has one.
	token string
	// pad pads token with spaces to the width of what it replaces, which
	// includes the cell's padding, so that a table column keeps its width.
	pad bool
}{
	// SHA-256 fingerprints: each run issues certificates for fresh keys.
	{re: regexp.MustCompile(`\b[0-9A-F]{2}(?::[0-9A-F]{2}){31}\b`), token: "<sha256>"},
	// Record names, made of the fingerprint.
	{re: regexp.MustCompile(`\b(?:client|serving)-([0-9a-f]{40})\b`), token: "<fingerprint>"},
	// Times: generatedAt, CSR creation, approval, notBefore and notAfter,
	// in YAML and in messages. Certificates are dated relative to the run.
	{re: regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\b`), token: "<time>"},
	// Dates: the EXPIRES column.
	{re: regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}\b`), token: "<date>"},
	// The AGE cell of review table rows (CSR names start with csr-): the
	// CSRs are created by the run, seconds before it lists them.
	{re: regexp.MustCompile(`(?m)^csr-\S* +\S+ +\S+ +(\d+[smhdy](?:\d+[smhd])? +)`), token: "<age>", pad: true},
}

// normalisedTokens lists the tokens of normalisers, for failure messages.
func normalisedTokens() string {
	tokens := make([]string, 0, len(normalisers))
	for _, n := range normalisers {
		tokens = append(tokens, n.token)
	}
	return strings.Join(tokens, ", ")
}

// normalise applies normalisers to s.
func normalise(s string) string {
	for _, n := range normalisers {
		var b strings.Builder
		last := 0
		for _, m := range n.re.FindAllStringSubmatchIndex(s, -1) {
			from, to := m[0], m[1]
			if len(m) > 2 {
				from, to = m[2], m[3]
			}
			token := n.token
			if n.pad && to-from > len(token) {
				token += strings.Repeat(" ", to-from-len(token))
			}
			b.WriteString(s[last:from])
			b.WriteString(token)
			last = to
		}
		b.WriteString(s[last:])
		s = b.String()
	}
	return s
}

// lineDiff returns a line diff of want and got: lines only in want start
// with "-", lines only in got with "+", common lines with " ". Runs of more
// than 3 common lines away from a change are elided.
func lineDiff(want, got string) string {
	a := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
	b := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	// lcs[i][j] is the length of the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []string
	for i, j := 0, 0; i < len(a) || j < len(b); {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, " "+a[i])
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, "-"+a[i])
			i++
		default:
			ops = append(ops, "+"+b[j])
			j++
		}
	}
	const contextLines = 3
	near := func(k int) bool {
		for d := max(0, k-contextLines); d <= min(len(ops)-1, k+contextLines); d++ {
			if ops[d][0] != ' ' {
				return true
			}
		}
		return false
	}
	var out strings.Builder
	elided := false
	for k, op := range ops {
		if !near(k) {
			if !elided {
				out.WriteString(" …\n")
			}
			elided = true
			continue
		}
		elided = false
		out.WriteString(op + "\n")
	}
	return out.String()
}

// runBinary runs the plugin binary as kubectl would, with KUBECONFIG set,
// and returns its combined output and exit code.
func runBinary(t *testing.T, bin, kubeconfig string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cmd.Environ(), "KUBECONFIG="+kubeconfig)
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		return string(out), exitErr.ExitCode()
	case err != nil:
		t.Fatalf("running %s: %v", bin, err)
	}
	return string(out), 0
}

// wipe deletes every Node, NodeCertificate and CSR and waits until they are gone.
func wipe(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := env.Client.DeleteAllOf(ctx, &corev1.Node{}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.DeleteAllOf(ctx, &v1alpha1.NodeCertificate{}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.DeleteAllOf(ctx, &certificatesv1.CertificateSigningRequest{}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, testenv.DefaultTimeout, "Nodes, records and CSRs to be deleted", func(ctx context.Context) (bool, error) {
		nodes, records, csrs := &corev1.NodeList{}, &v1alpha1.NodeCertificateList{}, &certificatesv1.CertificateSigningRequestList{}
		for _, l := range []client.ObjectList{nodes, records, csrs} {
			if err := env.Client.List(ctx, l); err != nil {
				return false, err
			}
		}
		return len(nodes.Items)+len(records.Items)+len(csrs.Items) == 0, nil
	})
}
