// Package approval measures the approval path against a real kube-apiserver:
// BenchmarkApprovalLatency runs the whole manager (approval, signing and,
// optionally, certificate records) and times kubelet renewals from creation
// to approval. It has benchmarks only; `make bench` runs them.
package approval
