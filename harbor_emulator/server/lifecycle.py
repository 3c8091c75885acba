"""How `harbor-emulator start` ends: on a signal, with the process that started it, in time.

Contract (Limits): SIGTERM or SIGINT ends the process within 5 s whatever it is doing (a
second signal at once), exit status 0 when it stopped cleanly; an emulator that a helper
started ends within 2 s of that helper's death, even by SIGKILL.

uvicorn's own handler only sets a flag that its event loop reads every 0.1 s and then waits,
without a bound, for open responses to finish. A loop busy in Python code for minutes (an
alias-bomb fixtures document) never read the flag, and a response that never ends (a drain
waiting on a receiver that never answers) was waited for forever. Here a stop request
starts uvicorn's graceful shutdown, which gives open responses OPEN_RESPONSE_SECONDS before
cancelling them, and arms a watchdog thread that ends the process if the clean stop has not
finished by the contract's deadline. Python runs signal handlers between bytecodes, so the
handler (and with it the watchdog) runs even while the loop is stuck in Python code; only a
single C call that never returned could delay it, and none in the emulator's loop does.

The watchdog's exit status is 0 too: the process stopped as it was asked to, and SQLite
keeps every committed write (an interrupted transaction is rolled back at the next open).
A second signal is the caller saying "now": the process ends at once, with the status of
death by that signal (130 for SIGINT, 143 for SIGTERM).

A parent's death is not a signal to its child. `--exit-with-stdin` makes stdin the lifeline:
the parent keeps the write end of a pipe, the kernel closes it when the parent dies however
it dies, and a thread here reading stdin sees end of file. This is portable, unlike Linux's
PR_SET_PDEATHSIG, and reaches through the one-file executable's bootloader, whose stdin its
Python child shares.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

import uvicorn

log = logging.getLogger("harbor_emulator.lifecycle")

# The contract gives a signal 5 s: the rest is margin for a machine under load.
SIGNAL_STOP_SECONDS = 4.0
# The contract gives a dead parent's emulator 2 s.
ORPHAN_STOP_SECONDS = 1.5
# Responses still open when stopping begins (the dashboard's live stream, a drain or an
# advance waiting on a slow receiver) get this long, then uvicorn cancels them: the clean
# stop then still has time for the scheduler and the database before the deadline.
OPEN_RESPONSE_SECONDS = 1.0
# Copies of one signal arrive together: a terminal's Ctrl-C reaches the whole process group
# (npx, the node wrapper, the one-file bootloader, this process) and the wrapper and the
# bootloader relay it too. Only a signal later than this is a second one.
SAME_SIGNAL_SECONDS = 0.25
# Writing the last log line must not keep the process alive: stderr may be a pipe that
# nobody reads any more, or the main thread may hold its lock.
LAST_WORDS_SECONDS = 0.2


class StoppingServer(uvicorn.Server):
    """uvicorn's server, stopped by SIGTERM/SIGINT or end of stdin within the contract's time.

    Run its `uvicorn.Config` with `timeout_graceful_shutdown=OPEN_RESPONSE_SECONDS`.
    `before_forced_exit` runs when the process ends without the clean stop (watchdog or
    second signal), with the same bound as the last log line: e.g. removing private state
    that the clean stop would have removed.
    """

    def __init__(
        self, config: uvicorn.Config, *, before_forced_exit: Callable[[], None] | None = None
    ) -> None:
        super().__init__(config)
        self._before_forced_exit = before_forced_exit
        self._first_signal_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not uvicorn's handler: it raises the signal again after the shutdown (the process
        # would die by it, exit 143, not 0) and only a second SIGINT cuts its wait short.
        name = signal.Signals(sig).name
        now = time.monotonic()
        if self._first_signal_at is None:
            self._first_signal_at = now
            self.stop(name, SIGNAL_STOP_SECONDS)
        elif now - self._first_signal_at > SAME_SIGNAL_SECONDS:
            self._exit_now(f"second signal ({name}): exiting at once", 128 + sig)

    def stop(self, reason: str, within_seconds: float) -> None:
        """Begin the clean stop, from any thread; the process ends within `within_seconds`
        of this call whether or not the clean stop has finished."""
        self.should_exit = True
        message = (
            f"the clean stop did not finish within {within_seconds} s of {reason}; "
            "exiting now (committed state is kept)"
        )
        watchdog = threading.Timer(within_seconds, self._exit_now, args=(message, 0))
        watchdog.name = "harbor-stop-watchdog"
        watchdog.daemon = True
        watchdog.start()

    def stop_at_end_of_stdin(self) -> None:
        """Stop (within ORPHAN_STOP_SECONDS) once stdin reaches end of file or is unusable."""

        def watch() -> None:
            # os.read, not sys.stdin: no buffer lock for the interpreter's exit to wait on.
            with contextlib.suppress(OSError):
                while os.read(0, 65536):
                    pass  # what a parent writes means nothing; only the end does
            log.info("stdin closed (the process that started the emulator ended): stopping")
            self.stop("the end of stdin", ORPHAN_STOP_SECONDS)

        threading.Thread(target=watch, name="harbor-stdin-watch", daemon=True).start()

    def quiet_cut_responses(self, record: logging.LogRecord) -> bool:
        """A filter for uvicorn's log: responses cut by a stop are expected, not errors.

        uvicorn logs each cancelled response's traceback as "Exception in ASGI application"
        and the cancelling itself at ERROR; one line at INFO says it.
        """
        if not self.should_exit:
            return True
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            return False
        if record.getMessage().endswith("timeout graceful shutdown exceeded"):
            record.levelno, record.levelname = logging.INFO, "INFO"
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True

    def _exit_now(self, message: str, status: int) -> None:
        """Tidy up and log `message` if that is done at once, then end with `status`."""

        def last_words() -> None:
            if self._before_forced_exit is not None:
                self._before_forced_exit()
            log.warning(message)

        writer = threading.Thread(target=last_words, name="harbor-last-words", daemon=True)
        writer.start()
        writer.join(LAST_WORDS_SECONDS)
        os._exit(status)
