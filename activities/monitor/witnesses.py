"""Network protection: can this site reach its witnesses? A TCP connect to each, from the site's own address.

The connect leaves from the site's heartbeat address (the same port number, in TCP), so that whatever cuts the
site off cuts these polls too; it is closed with a reset, so no TIME_WAIT keeps the port from the next poll.
"""

import asyncio
import contextlib
import socket
import struct

from standby.continuity import split_address


async def reach(source: str, witness: str, timeout: float) -> bool:
    """Whether a TCP connection to the witness opens within `timeout`, sent from `source`'s host and port."""
    host, port = split_address(witness)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Closed with RST (linger 0): the four-tuple is free again at once for the next poll.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.bind(split_address(source))
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), timeout)
        return True
    except (OSError, TimeoutError):
        return False
    finally:
        with contextlib.suppress(OSError):
            sock.close()


async def poll(source: str, witnesses: list[str], timeout: float) -> dict[str, bool]:
    """Each witness -> reached, polled at once (one source port, a four-tuple of its own for each)."""
    reached = await asyncio.gather(*(reach(source, witness, timeout) for witness in witnesses))
    return dict(zip(witnesses, reached, strict=True))
