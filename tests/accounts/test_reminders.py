"""Low-quota reminder mails: one when a user's quota falls below QuotaRemindThreshold, one when it runs out."""

from __future__ import annotations

import math

from tests.accounts.conftest import mail_options
from tests.admin.support import data
from tests.harness import Gateway
from tests.upstreams.openai_mock import OpenAIMock
from tests.upstreams.smtp import SmtpServer, SmtpSink

HI = [{"role": "user", "content": "hi"}]
# (1000 prompt + 250 completion x 4) x gpt-4o-mini's ratio 0.075
COST = math.ceil((1000 + 250 * 4) * 0.075)


def test_one_mail_per_crossing(relay: Gateway, mock: OpenAIMock, smtp_server: SmtpServer, smtp: SmtpSink) -> None:
    mail_options(relay, smtp_server, QuotaRemindThreshold=10 * COST)
    user_id, client = relay.create_user("mallory", quota=10 * COST + COST // 2)
    data(relay.admin.put("/api/user/", json={"id": user_id, "email": "mallory@example.com"}))
    key = relay.create_token(client)
    mock.plan("gpt-4o-mini", prompt_tokens=1000, pieces=["x"] * 250)
    api = relay.openai(key)
    for _ in range(3):  # the first call crosses the threshold; the next two stay below it
        api.chat.completions.create(model="gpt-4o-mini", messages=HI)
    [low] = smtp.wait(1)
    assert low.recipients == ["mallory@example.com"] and "running low" in low.subject
    assert f"{10 * COST + COST // 2 - COST}" in low.html and f"{relay.url}/topup" in low.html
    data(relay.admin.put("/api/user/", json={"id": user_id, "quota": COST // 2}))
    api.chat.completions.create(model="gpt-4o-mini", messages=HI)  # charged what is left: now at zero
    _, empty = smtp.wait(2)
    assert "run out" in empty.subject and "<strong>0</strong>" in empty.html
    assert len(smtp.to("mallory@example.com")) == 2
    client.close()


def test_no_mail_without_an_address(relay: Gateway, mock: OpenAIMock, smtp_server: SmtpServer,
                                    smtp: SmtpSink) -> None:
    mail_options(relay, smtp_server, QuotaRemindThreshold=10 * COST)
    user_id, client = relay.create_user("nina", quota=10 * COST + 1)
    mock.plan("gpt-4o-mini", prompt_tokens=1000, pieces=["x"] * 250)
    relay.openai(relay.create_token(client)).chat.completions.create(model="gpt-4o-mini", messages=HI)
    # Prove the mailer works, so the absence above is meaningful.
    data(relay.admin.put("/api/user/", json={"id": user_id, "email": "nina@example.com", "quota": 10 * COST + 1}))
    relay.server.run(relay.services.keeper.reload())
    relay.openai(relay.create_token(client)).chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert [m.recipients for m in smtp.wait(1)] == [["nina@example.com"]]
    client.close()
