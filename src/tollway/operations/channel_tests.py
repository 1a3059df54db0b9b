"""Channel tests: one channel now, or every channel (or the disabled ones) in the background, one run at a time.

Each test sends TEST_PROMPT through the channel's real adaptor (relay/probe.py), stores the channel's
`response_time` and `test_time`, the tested model's row in `channel_tests`, and a test log (type 5). A run
applies One API's rules: an enabled channel that is slower than ChannelDisableThreshold or whose key is
refused is disabled when AutomaticDisableChannelEnabled is on, and an automatically disabled channel that
passes is enabled again when AutomaticEnableChannelEnabled is on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from tollway.constants import ChannelStatus, LogType
from tollway.errors import InvalidRequest
from tollway.operations.channel_rules import too_slow
from tollway.operations.notices import Notices
from tollway.operations.retention import pause
from tollway.relay.pipeline import Relay
from tollway.relay.probe import ProbeResult, probe
from tollway.routing.fatal import fatal
from tollway.routing.health import Health
from tollway.settings import Settings
from tollway.storage import markers, writes
from tollway.storage.cache import ChannelEntry
from tollway.storage.keeper import Keeper

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-3.5-turbo"  # One API's test model when none is asked for
PROBE_TIMEOUT = 60.0
MODELS_AT_ONCE = 5
RUN_STATE = "channel-test-run"  # the shared state of the current or last run (storage/writes.py save_state)
STALE_RUN_S = 600  # a run whose progress was not shared for this long was cut short (its process stopped)
SCOPES = {"all": None, "disabled": (ChannelStatus.DISABLED, ChannelStatus.AUTO_DISABLED),
          "enabled": (ChannelStatus.ENABLED,)}


def pick_model(channel: ChannelEntry, requested: str) -> str:
    """The model to test: the requested one (default gpt-3.5-turbo) if the channel serves it, else its first model."""
    model = requested.strip() or DEFAULT_MODEL
    if channel.models and model not in channel.models:
        model = channel.models[0]
    return model


@dataclass
class TestRun:
    """Progress of one run over many channels, readable while it goes and after it ends."""

    scope: str
    total: int
    started_at: int = field(default_factory=lambda: int(time.time()))
    finished_at: int = 0
    done: int = 0
    passed: int = 0
    failed: int = 0
    current: int = 0
    disabled: list[int] = field(default_factory=list)
    enabled: list[int] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {"running": not self.finished_at, "scope": self.scope, "total": self.total, "done": self.done,
                "passed": self.passed, "failed": self.failed, "current": self.current,
                "disabled": list(self.disabled), "enabled": list(self.enabled), "started_at": self.started_at,
                "finished_at": self.finished_at}


class ChannelTester:
    """Tests channels and keeps the state of the current (or last) run."""

    def __init__(self, settings: Settings, keeper: Keeper, relay: Relay, health: Health, notices: Notices) -> None:
        self.settings = settings
        self.keeper = keeper
        self.cache = keeper.cache
        self.relay = relay
        self.health = health
        self.notices = notices
        self.run: TestRun | None = None
        self._task: asyncio.Task[None] | None = None
        self._probing: asyncio.Task[ProbeResult] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def test(self, channel: ChannelEntry, model: str = "") -> ProbeResult:
        """Test one model of a channel now and record the result; as in One API, only runs switch channels."""
        chosen = pick_model(channel, model)
        result = await probe(self.relay, channel, chosen, self.settings.test_prompt, timeout=PROBE_TIMEOUT)
        self._report(channel, result)
        await self._record(channel, result, "")
        return result

    def _report(self, channel: ChannelEntry, result: ProbeResult) -> None:
        """A passing test is the probe that ends a cool-down of the tested (channel, model) pair."""
        if result.success:
            self.health.probe_passed(channel, result.model)

    async def test_models(self, channel: ChannelEntry) -> list[ProbeResult]:
        """Test every model of a channel now, five at a time as AI Proxy does, and record each result."""
        gate = asyncio.Semaphore(MODELS_AT_ONCE)

        async def one(model: str) -> ProbeResult:
            async with gate:
                return await self.test(channel, model)

        return list(await asyncio.gather(*(one(model) for model in channel.models or [DEFAULT_MODEL])))

    async def _record(self, channel: ChannelEntry, result: ProbeResult, note: str) -> None:
        keeper, now = self.keeper, int(time.time())
        elapsed = int(result.took * 1000)
        row = {"channel_id": channel.id, "model": result.model, "actual_model": result.actual_model,
               "channel_name": channel.name, "channel_type": channel.type, "success": result.success,
               "code": result.code, "took": round(result.took, 3), "response": result.message[:4000],
               "test_at": now}
        await writes.record_channel_test(keeper, channel.id, elapsed if result.success else 0, row)
        verdict = f"passed in {result.took:.2f} s, answer: " if result.success else "failed: "
        content = f"channel {channel.name} (#{channel.id}) test of {result.model} {verdict}{result.message}{note}"
        await writes.write_log(keeper, user_id=0, username="", kind=LogType.TEST, content=content[:4000],
                               model_name=result.model, channel_id=channel.id, elapsed_time=elapsed)

    # -- runs over many channels -------------------------------------------------------------------------------

    def start(self, scope: str) -> TestRun:
        """Start testing every channel of a scope (all, disabled, enabled) in the background."""
        if scope not in SCOPES:
            raise InvalidRequest("scope must be all, disabled or enabled")
        if self.running:
            raise InvalidRequest("a channel test run is already in progress; see GET /api/channel/test/status")
        statuses = SCOPES[scope]
        channels = [c for _, c in sorted(self.cache.channels.items())
                    if statuses is None or c.status in statuses]
        run = self.run = TestRun(scope, len(channels))
        self._task = asyncio.create_task(self._run(run, channels), name="tollway-channel-test")
        return run

    async def wait(self) -> None:
        """Wait for the current run, if any, to end."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)

    async def status(self) -> dict[str, Any]:
        """Progress of the run in progress or the result of the last one, whichever worker or node ran it."""
        local = self.run.view() if self.run is not None else None
        if local is not None and local["running"]:
            return local
        try:
            shared = await writes.read_state(self.keeper, RUN_STATE)
        except Exception:
            log.exception("reading the shared channel test state failed")
            shared = None
        if shared is not None:
            view, updated = shared
            if view.get("running") and time.time() - updated > STALE_RUN_S:
                view["running"] = False  # its process stopped in the middle of the run
            if local is None or int(view.get("started_at") or 0) > local["started_at"]:
                return view
        return local or {"running": False, "scope": "", "total": 0, "done": 0, "passed": 0, "failed": 0, "current": 0,
                         "disabled": [], "enabled": [], "started_at": 0, "finished_at": 0}

    async def _share(self, run: TestRun) -> None:
        try:
            await writes.save_state(self.keeper, RUN_STATE, run.view())
        except Exception:
            log.exception("sharing the channel test run's progress failed")

    async def _run(self, run: TestRun, channels: list[ChannelEntry]) -> None:
        await self._share(run)
        try:
            for channel in channels:
                if self._stopping:
                    break
                if self.cache.channels.get(channel.id) is not channel:
                    run.total -= 1  # deleted since the run started
                    continue
                run.current = channel.id
                try:
                    await self._test_in_run(run, channel)
                except asyncio.CancelledError:
                    if self._stopping:  # stop() cancelled the probe in flight: nothing half-written
                        break
                    raise
                except Exception:
                    log.exception("channel test run: channel %s could not be tested", channel.id)
                    run.failed += 1
                run.done += 1
                await self._share(run)
                if self.settings.polling_interval_s:
                    await asyncio.sleep(self.settings.polling_interval_s)
        finally:
            run.current = 0
            run.finished_at = int(time.time())
            await asyncio.shield(self._share(run))
            log.info("channel test run (%s) finished: %d passed, %d failed, disabled %s, enabled %s",
                     run.scope, run.passed, run.failed, run.disabled, run.enabled)

    async def _test_in_run(self, run: TestRun, channel: ChannelEntry) -> None:
        options = self.cache.options
        was_enabled = channel.status == ChannelStatus.ENABLED
        chosen = pick_model(channel, "")
        # Only the probe may be cancelled by stop(); the writes below always finish.
        self._probing = asyncio.create_task(
            probe(self.relay, channel, chosen, self.settings.test_prompt, timeout=PROBE_TIMEOUT))
        try:
            result = await self._probing
        finally:
            self._probing = None
        auto_disable = options.flag("AutomaticDisableChannelEnabled")
        threshold = options.number("ChannelDisableThreshold")
        reasons = []
        if was_enabled and too_slow(result.took, threshold):
            reasons.append(f"response time {result.took:.2f} s is over the threshold of {threshold:.2f} s")
        verdict = fatal(result.error, channel.type) if was_enabled else None
        if verdict is not None:
            reasons.append(verdict.reason)
        note = ""
        if reasons and auto_disable:
            await writes.set_channel_status(self.keeper, channel.id, ChannelStatus.AUTO_DISABLED,
                                            f"channel test: {'; '.join(reasons)}", only_from=(ChannelStatus.ENABLED,))
            run.disabled.append(channel.id)
            note = f"; disabled automatically ({'; '.join(reasons)})"
            log.warning("channel %s (#%s) disabled automatically: %s", channel.name, channel.id, "; ".join(reasons))
            self.notices.notify(
                f"Channel {channel.name} (#{channel.id}) was disabled",
                f"Channel {channel.name} (#{channel.id}) was disabled automatically: {'; '.join(reasons)}")
        elif reasons:
            log.warning("channel %s (#%s) failed its test: %s", channel.name, channel.id, "; ".join(reasons))
        elif (channel.status == ChannelStatus.AUTO_DISABLED and result.success
              and options.flag("AutomaticEnableChannelEnabled")):
            # Only channels Tollway disabled itself come back; one an operator switched off stays off.
            await writes.set_channel_status(self.keeper, channel.id, ChannelStatus.ENABLED,
                                            f"passed its test in {result.took:.2f} s",
                                            only_from=(ChannelStatus.AUTO_DISABLED,))
            self.health.clear(channel.id)
            run.enabled.append(channel.id)
            note = "; enabled again automatically"
            self.notices.notify(f"Channel {channel.name} (#{channel.id}) was enabled again",
                                f"Channel {channel.name} (#{channel.id}) passed its test and was enabled again.")
        if result.success:
            run.passed += 1
        else:
            run.failed += 1
        self._report(channel, result)
        await self._record(channel, result, note)

    async def periodic(self, minutes: float, stopping: asyncio.Event) -> None:
        """Test every channel each `minutes` (CHANNEL_TEST_FREQUENCY) once per cluster: the process that claims the
        turn runs it (storage/markers.py); a turn is skipped while a run is going here."""
        look = min(60.0, minutes * 15)
        while not await pause(stopping, look):
            if self.running:
                continue
            try:
                if await markers.claim(self.keeper.engine, "channel-tests", minutes * 60):
                    self.start("all")
                    await self.wait()
            except Exception:
                log.exception("periodic channel test failed")

    async def stop(self, patience: float = 10.0) -> None:
        """End a run in progress after the channel it is on: its probe is cancelled, its writes are not."""
        if self._task is None or self._task.done():
            return
        self._stopping = True
        try:
            if self._probing is not None:
                self._probing.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), patience)
            except TimeoutError:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        finally:
            self._stopping = False
