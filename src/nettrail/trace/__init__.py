"""Live eBPF tracing on tracepoints across all network namespaces (``nettrail trace``).

``config`` (TraceConfig -> .rodata) and ``filter`` (pcap-filter subset -> rule table) are
pure; ``session`` loads and attaches ``bpf/trace.bpf.o`` through ``libbpf`` (the only ctypes
module) and reads batches of records with ``ringbuf``; ``decode`` (with ``columns``) turns a
batch into a ``nettrail.model.event_table.EventTable``, full ``TraceEvent`` s on demand;
``records`` hands them to the analyzer; ``run`` drives a whole trace and passes each batch to
sinks (the writers are in ``nettrail.report``: this package only produces data). Importing
this package loads nothing.
"""
