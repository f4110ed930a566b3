"""A campaign run's state and its Ctrl-C presses, and running its coroutine from plain code.

:class:`Run` is what :func:`smsdata.send_campaign` has done so far (readable
after an interrupt) and routes SIGINT to its sender; :func:`run_sync` runs the
sending coroutine from plain code, also inside Jupyter's running event loop,
handing a notebook interrupt to the run as SIGINT would be.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from ._sender import Sender

T = TypeVar("T")


@dataclass
class Run:
    """What a run has done so far (readable after it was interrupted), and its Ctrl-C presses.

    Once sending, the first press stops the run gracefully (requests on the wire
    are answered and recorded), a later one abandons what is on the wire; before,
    a press cancels the run. Never a KeyboardInterrupt raised into a ledger write.
    """

    sent: int = 0
    balance_before: Decimal | None = None
    presses: int = 0
    task: asyncio.Task[Any] | None = None
    sender: Sender | None = None

    def press(self) -> None:
        """Ctrl-C (called on the run's event loop)."""
        self.presses += 1
        if self.sender is None:
            if self.task is not None:
                self.task.cancel()
        elif self.presses == 1:
            self.sender.stop()
        else:
            self.sender.abandon()

    @contextlib.contextmanager
    def catching_ctrl_c(self) -> Iterator[None]:
        """Route SIGINT to :meth:`press` while the run lasts (main thread only; elsewhere the
        waiting thread forwards its KeyboardInterrupt, see :func:`run_sync`)."""
        loop = asyncio.get_running_loop()
        handled = threading.current_thread() is threading.main_thread()
        if handled:
            try:
                loop.add_signal_handler(signal.SIGINT, self.press)
            except (NotImplementedError, RuntimeError):  # Windows' loops have no signal handlers
                handled = False
        try:
            yield
        finally:
            if handled:
                loop.remove_signal_handler(signal.SIGINT)


def run_sync(on_interrupt: Callable[[], None], make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from plain code, also inside a running event loop (Jupyter).

    Inside a running loop it runs on a loop of its own in a worker thread; a
    KeyboardInterrupt of the waiting thread (a notebook interrupt) is handed to
    ``on_interrupt`` on that loop, as SIGINT is in the main thread, and the wait
    goes on until the run has recorded what it did.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    started = threading.Event()
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> T:
        loops.append(asyncio.get_running_loop())
        started.set()
        return await make()

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="smsdata-send") as pool:
        future = pool.submit(asyncio.run, main())
        while True:
            try:
                return future.result()
            except KeyboardInterrupt:
                if started.wait(timeout=5):
                    with contextlib.suppress(RuntimeError):  # its loop has just closed: the run is over
                        loops[0].call_soon_threadsafe(on_interrupt)
