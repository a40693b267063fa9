"""Pure, immutable records: packets, flows, findings, the analysis result."""
