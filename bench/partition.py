"""Partitions of the loopback by nftables: every packet to or from a set of ports dropped, until healed.

Only for a network namespace of the caller's own (`unshare -n`): the rules act on the namespace's loopback.
"""

import subprocess

TABLE = "standby_partition"


def _nft(*commands: str) -> None:
    subprocess.run(["nft", "-f", "-"], input="\n".join(commands).encode(), check=True, capture_output=True)


class Partition:
    """One nftables table with a set of cut ports; `cut` adds a site's ports, `heal` empties the set."""

    def __init__(self) -> None:
        _nft(f"add table inet {TABLE}",
             f"add set inet {TABLE} cut {{ type inet_service; }}",
             f"add chain inet {TABLE} out {{ type filter hook output priority 0; policy accept; }}",
             f"add rule inet {TABLE} out meta l4proto {{ tcp, udp }} th dport @cut drop",
             f"add rule inet {TABLE} out meta l4proto {{ tcp, udp }} th sport @cut drop")

    def cut(self, ports: list[int]) -> None:
        """Drop every TCP and UDP packet to or from these ports."""
        _nft(f"add element inet {TABLE} cut {{ {', '.join(map(str, ports))} }}")

    def heal(self) -> None:
        """Let everything through again."""
        _nft(f"flush set inet {TABLE} cut")

    def close(self) -> None:
        """Remove the table."""
        _nft(f"delete table inet {TABLE}")
