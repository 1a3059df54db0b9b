"""The dashboard: one's figures and the last 7 days of usage by day and by model; admins may see everyone's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.admin import dashboard as usage
from tollway.console import charts
from tollway.console.i18n import Translator
from tollway.console.render import Visitor, format_quota, page, render
from tollway.constants import Role
from tollway.storage.log_queries import ModelDay, daily_usage
from tollway.storage.rollups import DAY, EVERYONE, day_label, recent_days
from tollway.storage.users import user_by_id

if TYPE_CHECKING:
    from tollway.services import Services

MODEL_BARS = 12  # the busiest models get a bar; the table lists them all


@dataclass
class Totals:
    """Sums of usage per day and model."""

    requests: int = 0
    quota: int = 0
    prompt: int = 0
    completion: int = 0

    def add(self, row: ModelDay) -> None:
        self.requests += row.request_count
        self.quota += row.quota
        self.prompt += row.prompt_tokens
        self.completion += row.completion_tokens


@dataclass
class Usage:
    days: dict[str, Totals]
    models: dict[str, Totals] = field(default_factory=dict)
    total: Totals = field(default_factory=Totals)


def summarize(rows: list[ModelDay], first_day: int) -> Usage:
    """The rows summed per day (every one of the 7 days, empty ones too) and per model (busiest first)."""
    found = Usage(days={day_label(first_day + i * DAY): Totals() for i in range(usage.DAYS)})
    for row in rows:
        found.days.setdefault(day_label(row.day), Totals()).add(row)
        found.models.setdefault(row.model_name, Totals()).add(row)
        found.total.add(row)
    found.models = dict(sorted(found.models.items(), key=lambda item: (-item[1].quota, -item[1].requests, item[0])))
    return found


def draw(found: Usage, _: Translator, quota: charts.Format, *, money: bool, per_unit: float) -> dict[str, charts.Chart]:
    """The dashboard's four charts; quota is charted in what the console shows, dollars or quota units, and every
    scale says which (`$0.25`, `$1.5K`; `12K`, `3M` units)."""
    days = list(found.days)
    names = [day[5:] for day in days]  # MM-DD under the columns
    per_day = list(found.days.values())
    scale = per_unit if money else 1.0

    def count(value: float) -> str:
        return f"{int(value):,}"

    def counted(value: float) -> str:
        return charts.compact(value, money=False)

    def amount(value: float) -> str:  # a charted amount (dollars or units) as the console writes quota
        return quota(value * scale)

    def amount_axis(value: float) -> str:
        return charts.compact(value, money=money)

    return {
        "requests": charts.columns(
            names, [charts.Series(_("Requests"), [d.requests for d in per_day])], count, axis=counted,
            summary=_("Requests per day, last 7 days: {total} in all", total=count(found.total.requests))),
        "quota": charts.line(
            names, charts.Series(_("Quota used"), [d.quota / scale for d in per_day]), amount, whole=not money,
            axis=amount_axis,
            summary=_("Quota used per day, last 7 days: {total} in all", total=quota(found.total.quota))),
        "tokens": charts.columns(
            names, [charts.Series(_("Prompt tokens"), [d.prompt for d in per_day]),
                    charts.Series(_("Completion tokens"), [d.completion for d in per_day])], count, axis=counted,
            summary=_("Tokens per day, last 7 days: {total} in all",
                      total=count(found.total.prompt + found.total.completion))),
        "models": charts.bars(
            [(name or _("(no model)"), totals.quota / scale)
             for name, totals in list(found.models.items())[:MODEL_BARS]],
            amount, whole=not money, axis=amount_axis,
            summary=_("Quota used by model, last 7 days: {count} models", count=len(found.models))),
    }


@page(Role.COMMON)
async def dashboard(request: Request, services: Services, seen: Visitor) -> Response:
    assert seen.user is not None
    everyone = request.query_params.get("scope") == "all"
    if everyone and seen.role < Role.ADMIN:
        return render(request, services, "error.html", status=403, code=403,
                      message="You do not have permission to open this page.")
    username = request.query_params.get("username", "").strip() if everyone else ""
    owner: int | None = EVERYONE if everyone else seen.user.id
    if username:
        owner = next((u.id for u in services.cache.users.values() if u.username == username), None)
    first, last = recent_days(usage.DAYS)  # the same days and rows as GET /api/user/dashboard
    rows = [] if owner is None else await daily_usage(services.log_engine, owner, first, last)
    found = summarize(rows, first)
    translate = Translator(seen.language)
    options = services.cache.options
    figures = draw(found, translate, lambda value: format_quota(services, value),
                   money=options.flag("DisplayInCurrencyEnabled"), per_unit=options.quota_per_unit)
    user = seen.user
    stored = await user_by_id(services.engine, user.id) or {}
    return render(request, services, "dashboard/index.html", everyone=everyone, username=username,
                  unknown_user=bool(username) and owner is None, usage=found, charts=figures,
                  balance=user.quota.left_now(stored.get("quota")),
                  used=user.used_quota.total_now(stored.get("used_quota")),
                  requests=user.request_count.total_now(stored.get("request_count")))


def routes() -> list[Route]:
    return [Route("/dashboard", dashboard, methods=["GET"])]
