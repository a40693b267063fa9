"""Live eBPF tracing on tracepoints across all network namespaces."""
