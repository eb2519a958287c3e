"""What must run before the slow imports: the clock --timeout counts from, the exit path of every
failure, and Ctrl-C while py-libp2p loads. Standard library only: this is imported first."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any, NoReturn

STARTED = time.monotonic()  # --timeout counts from here: loading the modules takes a second too


def stdout_gone() -> None:
    """The reader of stdout went away (`| head -1`): point stdout at /dev/null, so that no later
    write or flush (the interpreter's last one included) fails again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        stdout_gone()


def fail(text: str, code: int) -> NoReturn:
    flush_stdout()
    sys.stderr.write(f"registry-p2p: error: {text}\n")
    sys.stderr.flush()
    sys.exit(code)


def _interrupted_while_loading(signum: int, frame: Any) -> None:
    fail("interrupted", 130)


_sigint_before_loading: Any = None


def guard_loading() -> None:
    """Loading py-libp2p takes most of a second: Ctrl-C meanwhile ends the command at once (nothing
    has started, nothing needs cleaning up) instead of printing the traceback of an import."""
    global _sigint_before_loading
    _sigint_before_loading = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _interrupted_while_loading)


def loaded() -> None:
    """The verb is about to start its trio run (cli.app.run): the previous SIGINT handler is back."""
    if signal.getsignal(signal.SIGINT) is _interrupted_while_loading:
        signal.signal(signal.SIGINT, _sigint_before_loading or signal.default_int_handler)
