"""Where a benchmark's CPU went: per process and for the whole machine, from /proc
(Linux), so a figure can be read beside what else was running."""

from __future__ import annotations

import os
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def _ticks(pid: int) -> tuple[str, int] | None:
    """(command name, user + system clock ticks) of a process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    name = data[data.index("(") + 1:data.rindex(")")]
    fields = data[data.rindex(")") + 2:].split()
    return name, int(fields[11]) + int(fields[12])


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine since boot."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # without guest time, already counted in user
    return total - idle, total


def machine_busy_over(seconds: float) -> float:
    """The machine's busy fraction over the next ``seconds``, with this script idle."""
    busy0, total0 = _machine_ticks()
    time.sleep(seconds)
    busy1, total1 = _machine_ticks()
    return (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0


class CpuSampler:
    """Polls the CPU time of PostgreSQL's processes and of the Twilio-compatible server
    while the send runs; a process's last sample stands for its total (a backend that
    exits between samples loses at most one interval)."""

    def __init__(self, server_pid: int, interval: float = 0.25) -> None:
        self.server_pid, self.interval = server_pid, interval
        self.start: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _scan(self) -> dict[int, int]:
        seen = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                found = _ticks(int(entry))
                if found and (found[0] == "postgres" or int(entry) == self.server_pid):
                    seen[int(entry)] = found[1]
        return seen

    def __enter__(self) -> CpuSampler:
        self.start = self._scan()
        self.machine_start = _machine_ticks()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.last.update(self._scan())

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.last.update(self._scan())
        self.machine_end = _machine_ticks()

    def seconds(self) -> tuple[float, float]:
        """CPU seconds used by (PostgreSQL, the server) during the run."""
        used = {pid: ticks - self.start.get(pid, 0) for pid, ticks in self.last.items()}
        server = used.pop(self.server_pid, 0)
        return sum(used.values()) / TICK, server / TICK

    def machine_busy(self) -> float:
        """The machine's busy fraction over the run (1.0: every core busy)."""
        busy = self.machine_end[0] - self.machine_start[0]
        total = self.machine_end[1] - self.machine_start[1]
        return busy / total if total else 0.0
