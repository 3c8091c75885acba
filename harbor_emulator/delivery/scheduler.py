"""What is due, in time order: the loop that turns the persistent queue into attempts.

Two drivers share one dispatcher. On the running clock, a loop sleeps until the next
attempt falls due (woken early by new work, finished attempts and clock changes). During a
clock advance, `advance_to` steps the clock from one scheduled time to the next and runs
each attempt stamped with its own scheduled time.

Attempts of different deliveries run concurrently. Order still holds where it can be
observed: an attempt scheduled at t starts only once no running attempt could, by
failing, schedule a retry before t.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from ..core.clock import Clock
from ..core.errors import HarborError
from ..core.ids import IdFactory
from ..core.logs import AttemptEntry, delivery_log, log_entry
from ..domain.retry import RetryPolicy, next_attempt_ms, stored_policy
from ..store import deliveries
from ..store.db import Database, Tx
from ..store.rows import Attempt, Delivery, Target
from .sender import AttemptRequest, AttemptResult, Sender

log = logging.getLogger("harbor_emulator.delivery")

BUG_BACKOFF_SECONDS = 30.0
# While the database can't be written (disk full), a finished attempt's record is retried
# for this long before the delivery rests and is attempted again later.
RECORD_RETRY_SECONDS = 5.0
STORAGE_BACKOFF_SECONDS = 1.0

# An outcome forced by a delivery fault: "timeout", "connection_error" or an HTTP status
# (recorded without calling the receiver), or a chaos outcome: "ack_lost", "duplicate" or
# "delay" (the receiver is called, the attempt is bent: contract "Delivery chaos").
FaultOutcome = str | int


class ForcedOutcome(NamedTuple):
    """What a delivery fault makes of one attempt."""

    outcome: FaultOutcome
    delay_seconds: int | None = None


class TakeFault(Protocol):
    """The fault registry's `take_delivery_fault`: consulted once per attempt; `delayed`
    says a delay fault already postponed this attempt, so it may not be delayed again."""

    def __call__(self, endpoint_id: str, *, delayed: bool = ...) -> ForcedOutcome | None: ...


@dataclass(slots=True)
class _Running:
    endpoint_id: str
    scheduled_ms: int
    # When this attempt's retry would fall if it fails: nothing later may start before.
    # Once the outcome is known (the attempt is being recorded), when it really falls.
    retry_not_before_ms: float
    # False once the receiver has answered: the attempt no longer holds a sending slot
    # while its outcome is written, but its delivery is still not due again before then.
    sending: bool = True


@dataclass(slots=True)
class _Outcome:
    """An attempt's outcome waiting for the next write, and the future that write sets."""

    outcome: deliveries.AttemptOutcome
    recorded: asyncio.Future[None]


class Scheduler:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ids: IdFactory,
        sender: Sender,
        *,
        concurrency: int,
        take_fault: TakeFault | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._ids = ids
        self._sender = sender
        self._concurrency = concurrency
        # A hanging receiver may hold at most this many slots, so others keep flowing.
        self._per_endpoint = max(1, concurrency // 4)
        self._take_fault = take_fault
        self._running: dict[str, _Running] = {}
        self._sending = 0  # the entries of _running still waiting on their receiver
        self._tasks: set[asyncio.Task[None]] = set()
        # Outcomes waiting for the next write, which records them all in one transaction.
        self._unrecorded: list[_Outcome] = []
        self._record_queued = False
        self._writes: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._travel_lock = asyncio.Lock()
        # One dispatch at a time, and what finished while it read the queue: its rows are
        # stale, and starting one again would repeat an attempt that already happened.
        self._dispatch_lock = asyncio.Lock()
        self._finished_meanwhile: set[str] = set()
        # Deliveries whose last attempt hit a bug, with when (monotonic) to try them again.
        self._resting: dict[str, float] = {}
        self._traveling = False
        self._loop: asyncio.Task[None] | None = None
        clock.subscribe(self.wake)

    def set_concurrency(self, concurrency: int) -> None:
        """Attempts in flight at once. Seeded runs use 1: attempts then finish, and take
        their ids, in due order, the same in every run."""
        self._concurrency = concurrency
        self._per_endpoint = max(1, concurrency // 4)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the loop; deliveries left due or in flight by a crash go out at once."""
        self._loop = asyncio.create_task(self._run(), name="harbor-delivery-scheduler")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        await self.cancel_running()
        await asyncio.gather(*self._writes, return_exceptions=True)
        await self._sender.close()

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """No dispatch while held, and nothing in flight from before (reset, restore)."""
        async with self._dispatch_lock:
            await self.cancel_running()
            try:
                yield
            finally:
                self.wake()

    async def cancel_running(self) -> None:
        """Abandon attempts in flight (reset): their deliveries are about to disappear."""
        self._resting.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def wake(self) -> None:
        self._wake.set()

    # -- running clock -----------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                if not self._traveling:
                    await self._dispatch(self._clock.now_ms(), travel=False)
                delay = await self._seconds_to_next_due()
            except Exception:
                log.exception("delivery dispatch failed; retrying in a second")
                delay = 1.0
            # asyncio.timeout, not wait_for: no task made per wake (one per attempt).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _seconds_to_next_due(self) -> float | None:
        if self._clock.frozen or self._sending >= self._concurrency:
            # Only a clock change, new work or a finishing attempt (each wakes us) can
            # make anything startable.
            return None
        next_due = await deliveries.next_due_ms(self._db)
        if next_due is None:
            return None
        wait_ms = next_due - self._clock.now_ms()
        if wait_ms <= 0:
            # Due but not started: slots are full; a finishing attempt wakes us.
            return 1.0
        return wait_ms / 1000

    # -- clock advance -----------------------------------------------------------------
    async def advance_to(self, target_ms: int) -> None:
        """Move the clock to `target_ms`, running every attempt due on the way first."""
        async with self._travel_lock:
            self._traveling = True
            try:
                while True:
                    self._progress.clear()
                    started = await self._dispatch(target_ms, travel=True)
                    # An attempt that finished while the dispatch read the queue made its
                    # rows stale (so it was skipped): read again before calling it done.
                    if not self._running and not started and not self._finished_meanwhile:
                        break
                    if self._running:
                        await self._progress.wait()
                if target_ms > self._clock.now_ms():
                    self._clock.set_ms(target_ms)
            finally:
                self._traveling = False
                self.wake()

    async def drain(self, timeout_seconds: float) -> int:
        """Wait until no attempt is due or in flight; return how many still are."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds
        while True:
            self._progress.clear()
            remaining = deadline - loop.time()
            if self._running and remaining > 0:
                # Not drained while anything runs; its end sets progress: no need to count.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, 0.5)):
                        await self._progress.wait()
                continue
            pending = await deliveries.count_due(self._db, self._clock.now_ms())
            pending = max(pending, len(self._running))
            remaining = deadline - loop.time()
            if pending == 0 or remaining <= 0:
                return pending
            self.wake()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, 0.5)):
                    await self._progress.wait()

    # -- dispatching -------------------------------------------------------------------
    async def _dispatch(self, horizon_ms: int, *, travel: bool) -> int:
        async with self._dispatch_lock:
            self._finished_meanwhile = set()
            return await self._dispatch_locked(horizon_ms, travel=travel)

    async def _dispatch_locked(self, horizon_ms: int, *, travel: bool) -> int:
        if self._sending >= self._concurrency:
            return 0
        busy: dict[str, int] = {}
        # An attempt being recorded may retry at once (a zero delay): nothing scheduled at
        # or after that retry starts before it is recorded, as when recording held the slot.
        recording_barrier = math.inf
        for running in self._running.values():
            if running.sending:
                busy[running.endpoint_id] = busy.get(running.endpoint_id, 0) + 1
            else:
                recording_barrier = min(recording_barrier, running.retry_not_before_ms)
        free = self._concurrency - self._sending
        now = time.monotonic()
        # Rows in flight, resting or of a full endpoint are not read, and no endpoint gives
        # more rows than slots are free (plus one): each row costs its envelope and keys,
        # and the fast-forward reads the queue once per attempt.
        candidates = await deliveries.due(
            self._db,
            horizon_ms=horizon_ms,
            per_endpoint=min(self._per_endpoint, free + 1),
            limit=self._concurrency * 2,
            exclude=[*self._running, *(d for d, until in self._resting.items() if until > now)],
            full_endpoints=[e for e, n in busy.items() if n >= self._per_endpoint],
        )
        if not candidates:
            return 0
        started = 0
        for delivery, target in candidates:
            if self._sending >= self._concurrency:
                break
            if delivery.id in self._running or delivery.id in self._finished_meanwhile:
                continue
            if delivery.id in self._resting:
                if time.monotonic() < self._resting[delivery.id]:
                    continue
                del self._resting[delivery.id]
            if busy.get(delivery.endpoint_id, 0) >= self._per_endpoint:
                continue
            scheduled_ms = delivery.next_attempt_ms
            assert scheduled_ms is not None  # pending deliveries are always scheduled
            if scheduled_ms >= recording_barrier:
                break
            if travel:
                barrier = min(
                    (r.retry_not_before_ms for r in self._running.values()), default=math.inf
                )
                if scheduled_ms > barrier:
                    break
                if scheduled_ms > self._clock.now_ms():
                    self._clock.set_ms(scheduled_ms)
            policy = stored_policy(target.retry_policy_json)
            first_ms = (
                delivery.first_attempt_ms if delivery.first_attempt_ms is not None else scheduled_ms
            )
            retry_at = next_attempt_ms(
                policy,
                first_attempt_ms=first_ms,
                scheduled_ms=scheduled_ms,
                attempt_number=delivery.attempt_count + 1,
            )
            self._running[delivery.id] = _Running(
                delivery.endpoint_id, scheduled_ms, math.inf if retry_at is None else retry_at
            )
            self._sending += 1
            busy[delivery.endpoint_id] = busy.get(delivery.endpoint_id, 0) + 1
            # During an advance, attempts carry their scheduled time (contract).
            stamp_ms = scheduled_ms if travel else max(scheduled_ms, self._clock.now_ms())
            task = asyncio.create_task(self._attempt(delivery, target, policy, stamp_ms))
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._attempt_ended, delivery.id))
            started += 1
        return started

    async def _attempt(
        self,
        delivery: Delivery,
        target: Target,
        policy: RetryPolicy,
        stamp_ms: int,
    ) -> None:
        try:
            await self._attempt_once(delivery, target, policy, stamp_ms)
        except asyncio.CancelledError:
            raise
        except HarborError as exc:
            if exc.code != "storage_unavailable":
                raise
            # Nothing of this attempt was recorded, so the delivery is still due as it was:
            # it is attempted again (at least once) when the database can be written.
            log.warning("delivery %s: attempt not recorded (%s)", delivery.id, exc.message)
            self._resting[delivery.id] = time.monotonic() + STORAGE_BACKOFF_SECONDS
        except Exception:
            # A bug, not an outcome: the delivery stays pending, and is left alone for a
            # while so a bug that fails every attempt cannot spin the loop at full speed.
            log.exception("delivery attempt %s failed unexpectedly", delivery.id)
            self._resting[delivery.id] = time.monotonic() + BUG_BACKOFF_SECONDS

    def _attempt_ended(self, delivery_id: str, task: asyncio.Task[None]) -> None:
        """Give back an attempt's slot. A done callback, not a `finally` in _attempt: a
        task cancelled before its first step (a reset right after the dispatch that made
        it) never runs its body, and a slot held forever stalled drains, advances and every
        reset behind them."""
        self._tasks.discard(task)
        self._release_slot(delivery_id, None)
        self._running.pop(delivery_id, None)
        self._finished_meanwhile.add(delivery_id)
        self._progress.set()
        self.wake()

    async def _attempt_once(
        self,
        delivery: Delivery,
        target: Target,
        policy: RetryPolicy,
        stamp_ms: int,
    ) -> None:
        if target.deleted:
            await self._db.write(lambda tx: deliveries.cancel(tx, delivery.id))
            return
        if target.status == "paused":
            await self._db.write(lambda tx: deliveries.hold(tx, delivery.id))
            return
        scheduled_ms = delivery.next_attempt_ms
        assert scheduled_ms is not None
        number = delivery.attempt_count + 1
        # A chaos delay already postponed this attempt: it goes out now, not delayed twice.
        delayed_seconds = delivery.chaos_delay_seconds
        forced = (
            self._take_fault(delivery.endpoint_id, delayed=delayed_seconds is not None)
            if self._take_fault
            else None
        )
        if forced is not None and forced.outcome == "delay":
            delay_seconds = forced.delay_seconds
            assert delay_seconds is not None
            # Not sent now: due again later, so later deliveries can overtake it.
            await self._db.write(
                lambda tx: deliveries.postpone(tx, delivery.id, scheduled_ms, delay_seconds)
            )
            return
        chaos = [] if delayed_seconds is None else [f"delay={delayed_seconds}"]
        if forced is not None and forced.outcome not in CHAOS_SENDS:
            result = _fault_result(forced.outcome)
        else:
            request = AttemptRequest(
                url=target.url,
                body=delivery.envelope,
                delivery_id=delivery.id,
                event_type=delivery.event_type,
                attempt_number=number,
                secrets=target.secrets_at(stamp_ms),
            )
            if forced is None:
                result = await self._send(request)
            else:
                chaos.append(str(forced.outcome))
                result = await self._send_bent(request, forced.outcome)
        first_ms = (
            delivery.first_attempt_ms if delivery.first_attempt_ms is not None else scheduled_ms
        )
        if result.succeeded:
            status, retry_at = "succeeded", None
        else:
            # Harbor counts each retry from the attempt's scheduled time, so a slow
            # receiver does not push the rest of the schedule later.
            retry_at = next_attempt_ms(
                policy, first_attempt_ms=first_ms, scheduled_ms=scheduled_ms, attempt_number=number
            )
            status = "pending" if retry_at is not None else "failed"
        attempt = Attempt(
            id=self._ids.new("att", stamp_ms),
            delivery_id=delivery.id,
            attempt_number=number,
            attempted_ms=stamp_ms,
            duration_ms=result.duration_ms,
            response_code=result.response_code,
            response_body=result.response_body,
            error=result.error,
            request_headers=result.request_headers,
            error_detail=result.error_detail,
            timeout_ms=result.timeout_ms,
            response_headers=None
            if result.response_headers is None
            else tuple(result.response_headers),
            chaos=" ".join(chaos) or None,
        )
        # The receiver is done with it and its id is taken: the next attempt may go out
        # while this one is written (seeded runs still send, and take ids, in due order).
        self._release_slot(delivery.id, retry_at)
        # Let the woken dispatcher send its queue read first: the next attempt waits on
        # it, while this write can run as that attempt waits on its receiver.
        await asyncio.sleep(0)
        await self._record_retrying(attempt, status, retry_at, first_ms)
        _log_attempt(target, attempt, status, retry_at)

    async def _send(self, request: AttemptRequest) -> AttemptResult:
        try:
            return await self._sender.send(request)
        except Exception:
            # The receiver was never reached properly because of a bug on our side:
            # recorded like any failed attempt, so it follows the retry schedule.
            log.exception("sending delivery %s raised", request.delivery_id)
            return AttemptResult(None, None, "connection_error", 0)

    async def _send_bent(self, request: AttemptRequest, outcome: FaultOutcome) -> AttemptResult:
        """Send an attempt a chaos fault bends: `duplicate` sends it twice at once (each
        signed as it goes) and keeps the first answer; `ack_lost` sends it once and records
        a timeout whatever came back, so it comes again at the next retry."""
        if outcome == "duplicate":
            sends = [asyncio.ensure_future(self._send(request)) for _ in range(2)]
            try:
                await asyncio.wait(sends, return_when=asyncio.FIRST_COMPLETED)
                # First answered wins; on a tie the first sent, so seeded runs agree.
                first = next(send for send in sends if send.done())
                # The receiver gets both before the attempt is recorded and its retry due.
                await asyncio.gather(*sends)
            finally:
                for send in sends:
                    send.cancel()
            return first.result()
        result = await self._send(request)
        answered = (
            f"answered {result.response_code}"
            if result.response_code is not None
            else f"failed ({result.error})"
        )
        return result._replace(
            response_code=None,
            response_body=None,
            error="timeout",
            response_headers=None,
            error_detail=f"Chaos ack_lost: the receiver {answered}; recorded as a timeout, "
            "so the delivery comes again at the next retry.",
        )

    def _release_slot(self, delivery_id: str, retry_at: int | None) -> None:
        running = self._running.get(delivery_id)
        if running is None or not running.sending:
            return
        running.sending = False
        running.retry_not_before_ms = math.inf if retry_at is None else retry_at
        self._sending -= 1
        self._progress.set()
        self.wake()

    async def _record_retrying(
        self, attempt: Attempt, status: str, retry_at: int | None, first_ms: int
    ) -> None:
        """Write an attempt's outcome, waiting out a short storage fault: the receiver has
        seen this attempt, so giving up at once would make it repeat. The write is one
        transaction with the attempt's own id: retried, it is never recorded twice."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RECORD_RETRY_SECONDS
        delay = 0.05
        while True:
            outcome = _Outcome(
                deliveries.AttemptOutcome(attempt, status, retry_at, first_ms),
                loop.create_future(),
            )
            self._unrecorded.append(outcome)
            if not self._record_queued:
                self._record_queued = True
                # Not one of _tasks: cancelling attempts (reset) must not drop the write
                # that other attempts' outcomes wait on.
                task = asyncio.create_task(self._write_unrecorded())
                self._writes.add(task)
                task.add_done_callback(self._writes.discard)
            try:
                # Shielded: a cancelled attempt (reset) leaves the shared write to finish.
                await asyncio.shield(outcome.recorded)
                return
            except HarborError as exc:
                if exc.code != "storage_unavailable" or loop.time() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _write_unrecorded(self) -> None:
        """Record every outcome queued until this task runs, in one transaction: attempts
        finishing together cost one write, not one each. Taken here, on the loop's thread,
        so the write itself is only SQL and runs inline on the database thread (outcomes
        queued meanwhile start the next write, which the group commit joins to this one's
        trip when it can)."""
        batch, self._unrecorded = self._unrecorded, []
        self._record_queued = False
        outcomes = [queued.outcome for queued in batch]

        async def record(tx: Tx) -> None:
            await deliveries.record_attempts(tx, outcomes)

        try:
            await self._db.write_inline(record)
        except Exception as exc:
            for outcome in batch:
                if not outcome.recorded.done():
                    outcome.recorded.set_exception(exc)
                    # Retrieved by its attempt, unless a reset cancelled that meanwhile.
                    outcome.recorded.exception()
        else:
            for outcome in batch:
                if not outcome.recorded.done():
                    outcome.recorded.set_result(None)


# Chaos outcomes that still call the receiver (`delay` postpones the attempt instead).
CHAOS_SENDS = ("ack_lost", "duplicate")


def _fault_result(outcome: FaultOutcome) -> AttemptResult:
    if outcome in ("timeout", "connection_error"):
        return AttemptResult(None, None, str(outcome), 0)
    # A fault with a status records that code and no error kind (contract).
    return AttemptResult(int(outcome), "", None, 0)


def _log_attempt(
    target: Target, attempt: Attempt, outcome: str, next_attempt_ms: int | None
) -> None:
    """Log one recorded attempt; `outcome` is the delivery's status after it."""
    if not delivery_log.isEnabledFor(logging.INFO):
        return
    log_entry(
        delivery_log,
        logging.INFO,
        AttemptEntry(
            attempt.delivery_id,
            target.endpoint_id,
            target.url,
            attempt.attempt_number,
            attempt.response_code,
            attempt.error,
            attempt.duration_ms,
            outcome,
            attempt.attempted_ms,
            next_attempt_ms,
        ),
    )
