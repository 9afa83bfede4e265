"""``waymark run``'s supervisor: starts child processes and guarantees that none
outlives it.

- SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed) stop every child: each is
  sent SIGTERM once, given ``grace`` seconds (uvicorn's own shutdown under
  ``waymark serve`` takes at most 10), then killed with its whole process group.
  A second signal while stopping kills at once.
- A child that stops by itself stops the others (the run is all or nothing).
- If the supervisor itself dies, even by SIGKILL, which it cannot handle, each child
  gets SIGTERM from the kernel (Linux ``prctl(PR_SET_PDEATHSIG)``, set in the child
  before it runs its command) and shuts down as if asked.

Why each child has a session of its own rather than sharing the terminal's process
group: a terminal's Ctrl-C and SIGHUP go to the whole foreground group, so a child
there would get the signal and then ours too, and uvicorn treats a second SIGINT as
"skip the graceful shutdown". In their own sessions the terminal's signals reach only
the supervisor, which handles all three; the parent-death signal covers what no
handler can (SIGKILL, an out-of-memory kill). Without ``prctl`` (not Linux), that last
guarantee is lost and said so at start.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
CHILD_GRACE_SECONDS = 12.0  # uvicorn's 10 s, and the interpreter's exit
PR_SET_PDEATHSIG = 1


def _libc_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def die_with_parent(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to send the child SIGTERM when ``parent``
    dies; None where that cannot be asked."""
    prctl = _libc_prctl()
    if prctl is None:
        return None

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took hold
            os._exit(1)

    return preexec


def _kill_group(child: subprocess.Popen) -> None:
    """SIGKILL the child and whatever it started (its session's process group)."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    child.kill()
    child.wait()


def supervise(commands: Mapping[str, Sequence[str]], *,
              envs: Mapping[str, Mapping[str, str]] | None = None,
              grace: float = CHILD_GRACE_SECONDS, say: Callable[[str], None] | None = None,
              ) -> int:
    """Run each command until a stop signal or until one of them stops; returns 0 after
    a requested stop, else the exit status of the child that stopped first."""
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)

    # Installed before any child starts, so a signal during start-up still stops them all.
    previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
    preexec = die_with_parent(os.getpid())
    if preexec is None:
        say("warning: children cannot be tied to this process here (no prctl); "
            "if it is killed, stop them yourself")
    children: dict[str, subprocess.Popen] = {}
    exit_code = 0
    try:
        for name, command in commands.items():
            if received:
                break
            children[name] = subprocess.Popen(
                list(command), env=dict(envs[name]) if envs else None,
                start_new_session=True, preexec_fn=preexec)
        while not received:
            stopped = next(((n, c) for n, c in children.items() if c.poll() is not None), None)
            if stopped is not None:
                name, child = stopped
                say(f"{name} stopped unexpectedly (exit {child.returncode}); stopping all")
                exit_code = child.returncode or 1
                break
            time.sleep(0.1)
        if received:
            say(f"{signal.Signals(received[0]).name}: stopping every service")
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        signals_before = len(received)
        for name, child in children.items():
            while child.poll() is None and time.monotonic() < deadline and (
                    len(received) == signals_before):
                time.sleep(0.05)
            if child.poll() is None:
                say(f"{name} did not stop within {grace:g} s: killed")
                _kill_group(child)
            else:  # anything it started and left behind
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
    finally:
        for child in children.values():  # an exception here must not leave one running
            if child.poll() is None:
                _kill_group(child)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    say("all services stopped")
    return exit_code
