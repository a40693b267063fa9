"""What a scenario declares by name inside one host: the fields its parts share."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HostPart:
    """A part declared as ``[hosts.HOST.<kind>.NAME]`` (a Linux or OVS bridge, a VXLAN device,
    a service): the host it lives in and its name there."""

    host: str
    name: str
