"""The rule for the CIDRs admitted to the EKS API endpoint: not the world, not a
large part of it. One rule, two enforcers: the config check
(components/config.py, before any resource is registered) and the policy pack
(guardrails.py, on every preview and update, even of an edited program).

Standard library only, and in policy/ so that both can import it as they run:
``pulumi ... --policy-pack policy`` runs the pack with policy/ first on
``sys.path`` (``runpy.run_path`` of the pack's folder), where this is
``cidr_rules``; the program, run from the repository root, imports it as
``policy.cidr_rules``. The pack's own environment has no pulumi-aws, so it
could not import components/config.py.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The shortest prefix admitted, per IP version: a /8 is 1/256 of IPv4, a /32
# is an ISP's allocation of IPv6.
MIN_PREFIX_LENGTH = {4: 8, 6: 32}
WORLDS = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


def world_open_reason(networks: Sequence[Network]) -> str | None:
    """Why these networks admit the world or a large part of it, or None.

    Refused: an IPv4 prefix shorter than /8, an IPv6 prefix shorter than /32,
    and a list whose union is the whole address space (``0.0.0.0/1`` +
    ``128.0.0.0/1``, or 256 /8s)."""
    for net in networks:
        if net.prefixlen < MIN_PREFIX_LENGTH[net.version]:
            return f"{net} is too wide (allowed: IPv4 /8 or longer, IPv6 /32 or longer)"
    for world in WORLDS:
        same = [n for n in networks if n.version == world.version]
        if world in ipaddress.collapse_addresses(same):  # type: ignore[arg-type]
            return f"together the CIDRs cover {world}"
    return None
