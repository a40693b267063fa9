"""Capture files (pcap, pcapng, tcpdump text) to PacketRecords."""
