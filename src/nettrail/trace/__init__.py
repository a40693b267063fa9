"""Live eBPF tracing on tracepoints across all network namespaces (``nettrail trace``).

``config`` (TraceConfig -> .rodata) and ``filter`` (pcap-filter subset -> rule table) are
pure; ``session`` loads and attaches ``bpf/trace.bpf.o`` through ``libbpf`` (the only ctypes
module) and reads events with ``ringbuf``; ``decode`` turns them into
``nettrail.model.event.TraceEvent``; ``output`` renders them; ``records`` hands them to the
analyzer; ``run`` drives a whole trace. Importing this package loads nothing.
"""
