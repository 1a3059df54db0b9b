"""What the environment decides about every relay call (AI Proxy's variables): billing, retries, kept bodies."""

from __future__ import annotations

from dataclasses import dataclass, field

from tollway.settings import Settings
from tollway.storage.log_details import Limits


@dataclass(frozen=True)
class Policy:
    """Read once at startup; the defaults are One API's behaviour."""

    # BILLING_ENABLED=false: calls hold and cost nothing (still logged, with their tokens).
    billing: bool = True
    # RETRY_TIMES, which wins over the RetryTimes option as AI Proxy's environment does; -1 when unset.
    retry_times: int = -1
    # Bodies kept with the log: failed calls' always (None: never, LOG_DETAIL_STORAGE_HOURS < 0), every call's too
    # with SAVE_ALL_LOG_DETAIL.
    bodies: Limits | None = field(default_factory=Limits)
    save_all_bodies: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        bodies = None
        if settings.log_detail_storage_hours >= 0:
            bodies = Limits(settings.log_detail_request_body_max, settings.log_detail_response_body_max)
        return cls(billing=settings.billing_enabled, retry_times=settings.retry_times, bodies=bodies,
                   save_all_bodies=settings.save_all_log_detail and bodies is not None)
