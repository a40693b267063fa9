"""Pure analysis over PacketRecords: flows, handshakes, correlation, clocks, NAT, diagnosis."""
