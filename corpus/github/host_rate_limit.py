"""A request rate per host, shared by every process of one machine.

The tasks of a stage run as separate processes (local executor) or Ray workers, several to a
node, and each would otherwise pace itself alone: 16 tasks each asking a host once a second ask it
16 times a second. Here every process books its next request slot in one small file per host
under a node-local folder, under an exclusive `flock`: the slot is the later of now and the last
booked slot plus `1 / per_second`. Booking is a few microseconds; the waiting happens outside the
lock. Processes on other machines do not share the file (each node keeps its own rate), so a
cluster's total rate is the nodes times this one.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

#: where the booking files live unless told otherwise: one folder per user on this machine
DEFAULT_FOLDER = os.path.join(tempfile.gettempdir(), f"coderforge-rate-{os.getuid()}")


@dataclass
class HostRateLimit:
    """At most `per_second` requests a second to each host from all processes of this machine."""

    per_second: float
    folder: str = DEFAULT_FOLDER
    clock: Callable[[], float] = field(default=time.time, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def book(self, url: str) -> float:
        """Reserve the next slot for `url`'s host; the seconds to wait before using it."""
        host = (urllib.parse.urlsplit(url).hostname or "local").lower()
        port = urllib.parse.urlsplit(url).port
        name = "".join(c if c.isalnum() or c in ".-" else "_" for c in f"{host}_{port or ''}")
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, name + ".slot")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 64, 0)
            try:
                last = float(raw.decode("ascii").strip() or 0.0)
            except ValueError:
                last = 0.0  # a damaged booking file only loses one interval
            now = self.clock()
            slot = max(now, last + 1.0 / self.per_second)
            data = f"{slot:.6f}".ljust(32).encode("ascii")
            os.pwrite(fd, data, 0)
        finally:
            os.close(fd)  # closing releases the lock
        return max(0.0, slot - now)

    def wait(self, url: str) -> None:
        delay = self.book(url)
        if delay > 0:
            self.sleep(delay)
