"""Short-lived single-use secrets shared by every node: email codes, reset tokens and OAuth states.

Only a SHA-256 digest of a secret is kept, in the database or (when REDIS_CONN_STRING is set) in Redis. Taking
a secret is atomic, so two nodes can never both accept the same one, and a few wrong guesses burn it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Any

import orjson

from tollway.storage import codes as code_store
from tollway.storage.database import Engine

log = logging.getLogger(__name__)

EMAIL_VERIFICATION = "email_verification"
PASSWORD_RESET = "password_reset"
OAUTH_STATE = "oauth_state"
VALID_S = 10 * 60  # One API's VerificationValidMinutes
MAX_ATTEMPTS = 5

# KEYS[1] the entry; ARGV: digest, bound, max attempts. 1 taken, 0 refused (and one attempt spent).
_TAKE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local entry = cjson.decode(raw)
if entry['digest'] == ARGV[1] and entry['bound'] == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
entry['attempts'] = entry['attempts'] + 1
if entry['attempts'] >= tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], cjson.encode(entry), 'KEEPTTL')
end
return 0
"""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Codes:
    """Put and take single-use secrets by (purpose, subject)."""

    def __init__(self, engine: Engine, redis: Any | None = None) -> None:
        self.engine = engine
        self.redis = redis

    async def put(self, purpose: str, subject: str, secret: str, *, bound: str = "", ttl: int = VALID_S) -> None:
        """Store a secret for `subject`, replacing any earlier one for the same purpose and subject."""
        subject = subject[:191]
        if self.redis is not None:
            entry = {"digest": digest(secret), "bound": bound, "attempts": 0}
            await self.redis.set(_key(purpose, subject), orjson.dumps(entry), ex=ttl)
            return
        now = int(time.time())
        await code_store.replace_code(self.engine, purpose, subject, digest(secret), bound, now=now,
                                      expires_at=now + ttl)

    async def take(self, purpose: str, subject: str, secret: str, *, bound: str = "") -> bool:
        """Consume the secret if it matches, is bound to `bound` and has not expired; a wrong try spends an attempt."""
        subject = subject[:191]
        if not secret:
            return False
        if self.redis is not None:
            taken = await self.redis.eval(_TAKE, 1, _key(purpose, subject), digest(secret), bound, MAX_ATTEMPTS)
            return bool(taken)
        return await code_store.take_code(self.engine, purpose, subject, digest(secret), bound, now=int(time.time()),
                                          max_attempts=MAX_ATTEMPTS)


def _key(purpose: str, subject: str) -> str:
    return f"tollway:code:{purpose}:{subject}"


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets."""
    return hmac.compare_digest(a.encode(), b.encode())
