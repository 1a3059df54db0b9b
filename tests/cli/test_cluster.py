"""Three real `tollway serve` nodes on one PostgreSQL or MariaDB database (one of them a slave started first, on an
empty database), with one or two workers each, with or without Redis, behaving as one gateway: a burst against a
small quota never overdraws it, changes made on one node reach the others without a reload, and a node killed with
SIGKILL in the middle of a burst bills nothing twice and strands no quota.

No timing is asserted: waits have generous deadlines; how long changes took is printed (pytest -s) for the record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.accounts.conftest import REDIS_URL
from tests.cli.cluster import ROOT_ACCESS_TOKEN, Node, create_database, drop_database, dsn, ok, sql
from tests.harness import ci
from tests.storage.conftest import Server

# name: (database server, workers per node, Redis); names are short, they go into user and token names
# PostgreSQL without Redis and with one worker is what tests/storage and tests/operations run on; here the suite's
# time goes to the two clusters that differ most.
SPECS = {"maria": ("mariadb", 1, False), "pg2redis": ("postgresql", 2, True)}
MODEL = "cluster-test"
COST = 16  # the mock reports 11 prompt and 5 completion tokens; ratio 1, completion ratio 1
# A call holds its counted prompt (8) and max_tokens (10) before the upstream answers: more than it costs, so that
# every call is charged in full and the quota for 60 calls pays for at most 60.
PASSWORD = "cluster-password-1"
PATIENCE_S = 60.0
# A new connection per call: a kept-alive one may idle past the server's keep-alive between a test's steps.
ONE_SHOT = httpx.Limits(max_keepalive_connections=0)


@dataclass
class Cluster:
    name: str
    nodes: list[Node]
    engine: AsyncEngine
    redis: bool

    @property
    def workers(self) -> int:
        return self.nodes[0].workers


def _redis_or_skip() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        if ci():
            pytest.fail(f"Redis not reachable at {REDIS_URL} ({exc})")
        pytest.skip(f"Redis not reachable at {REDIS_URL} ({exc})")
    finally:
        client.close()


@pytest.fixture(scope="module", params=list(SPECS))
def cluster_server(request: pytest.FixtureRequest) -> tuple[str, Server]:
    """Each cluster's name and database server; a plain fixture so that it may pick an async one."""
    name: str = request.param
    kind = SPECS[name][0]
    return name, request.getfixturevalue("postgres_server" if kind == "postgresql" else "mariadb_server")


@pytest.fixture(scope="module")
async def cluster(cluster_server: tuple[str, Server], tmp_path_factory: pytest.TempPathFactory,
                  mock_server: tuple[Any, Any]) -> AsyncIterator[Cluster]:
    """A slave started first on an empty database (it waits), then two masters started together (they migrate
    under the lock), all three on one database; a channel and prices set through node A."""
    name, server = cluster_server
    _, workers, with_redis = SPECS[name]
    mock_url = mock_server[1].url
    if with_redis:
        _redis_or_skip()
    database, engine = await create_database(server)
    env = {"SQL_DSN": dsn(server, database), "ENCRYPTION_KEY": "cluster-key", "SESSION_SECRET": "cluster-session",
           "INITIAL_ROOT_PASSWORD": "cluster-root-password", "INITIAL_ROOT_ACCESS_TOKEN": ROOT_ACCESS_TOKEN,
           "BATCH_UPDATE_INTERVAL": "0.2", "LEASE_TTL": "4", "SYNC_FREQUENCY": "600", "GLOBAL_API_RATE_LIMIT": "0",
           "CRITICAL_RATE_LIMIT": "0", "REDIS_CONN_STRING": REDIS_URL if with_redis else ""}
    tmp = tmp_path_factory.mktemp(name)
    a, b = (Node(name, env, workers, tmp / name) for name in ("a", "b"))
    c = Node("c", {**env, "NODE_TYPE": "slave"}, workers, tmp / "c")
    nodes = [a, b, c]
    try:
        c.start()
        c.wait_for_output("waiting for a master")
        a.start()
        b.start()
        for node in nodes:
            node.wait_ready()
        with a.admin() as admin:
            ok(admin.post("/api/channel/", json={"type": 1, "name": "mock", "key": "sk-mock", "base_url": mock_url,
                                                 "models": MODEL, "group": "default"}))
            for key, value in (("PreConsumedQuota", 0), ("ModelRatio", f'{{"{MODEL}": 1}}'),
                               ("CompletionRatio", f'{{"{MODEL}": 1}}')):
                ok(admin.put("/api/option/", json={"key": key, "value": value}))
        for node in nodes:  # the options reach every node through the change log
            await until(lambda node=node: MODEL in str(option(node, "CompletionRatio")), f"options on {node.name}")
        yield Cluster(name, nodes, engine, with_redis)
    finally:
        for node in nodes:
            node.terminate()
        for node in nodes:
            node.stop()
        await drop_database(server, database, engine)
    assert all("Traceback" not in node.output() for node in nodes), "\n".join(node.output()[-3000:] for node in nodes)


async def until(check: Callable[[], Any], what: str, timeout: float = PATIENCE_S) -> float:
    """Wait until `check()` is true; answers how long it took."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"gave up waiting for {what}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def option(node: Node, key: str) -> Any:
    with node.admin() as admin:
        return {item["key"]: item["value"] for item in ok(admin.get("/api/option/"))}.get(key)


def make_user(node: Node, name: str, quota: int, remains: list[int]) -> tuple[int, list[str]]:
    """A common user with this quota and one limited token per entry of `remains`."""
    with node.admin() as admin:
        user_id = int(ok(admin.post("/api/user/", json={"username": name, "password": PASSWORD}))["id"])
        ok(admin.put("/api/user/", json={"id": user_id, "quota": quota}))
    with httpx.Client(base_url=node.url, timeout=60) as client:
        ok(client.post("/api/user/login", json={"username": name, "password": PASSWORD}))
        for token in ok(client.get("/api/token/")):
            ok(client.delete(f"/api/token/{token['id']}"))
        keys = []
        for index, remain in enumerate(remains):
            token = ok(client.post("/api/token/", json={"name": f"{name}-{index}", "remain_quota": remain,
                                                        "unlimited_quota": False, "expired_time": -1}))
            keys.append("sk-" + token["key"])
    return user_id, keys


async def relay(client: httpx.AsyncClient, node: Node, key: str) -> httpx.Response:
    return await client.post(f"{node.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                             json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10})


async def quiet(cluster: Cluster, *owners_gone: str) -> None:
    """Wait until every slice is given back (idle slices go back at each flush, dead ones when they expire)."""
    async def count() -> int:
        return len(await sql(cluster.engine, "SELECT owner FROM tollway_leases"))

    started = time.monotonic()
    while await count():
        assert time.monotonic() - started < PATIENCE_S, await sql(cluster.engine, "SELECT * FROM tollway_leases")
        await asyncio.sleep(0.2)


async def figures(cluster: Cluster, user_id: int) -> dict[str, Any]:
    """The user's and tokens' figures and their consume logs, as the database holds them."""
    [user] = await sql(cluster.engine, "SELECT quota, used_quota, request_count, leased FROM users WHERE id = :id",
                       id=user_id)
    tokens = await sql(cluster.engine, "SELECT name, remain_quota, used_quota, leased FROM tokens "
                                       "WHERE user_id = :id ORDER BY name", id=user_id)
    logs = await sql(cluster.engine, "SELECT token_name, quota, request_id FROM logs WHERE user_id = :id AND type = 2",
                     id=user_id)
    return {"user": {k: int(v) for k, v in user.items()},
            "tokens": {t["name"]: (int(t["remain_quota"]), int(t["used_quota"]), int(t["leased"])) for t in tokens},
            "logs": logs}


def check_books(state: dict[str, Any], quota: int, remain: int) -> int:
    """Nothing below zero, nothing billed twice, logs equal to the used quota everywhere; answers the logged calls."""
    user, logs = state["user"], state["logs"]
    assert len({row["request_id"] for row in logs}) == len(logs), "a call was logged twice"
    logged = sum(int(row["quota"]) for row in logs)
    assert user["quota"] >= 0 and user["leased"] == 0
    assert user["used_quota"] == logged == quota - user["quota"] and user["request_count"] == len(logs)
    for name, (left, used, leased) in state["tokens"].items():
        mine = sum(int(row["quota"]) for row in logs if row["token_name"] == name)
        assert left >= 0 and leased == 0 and used == mine == remain - left, (name, left, used, mine)
    return len(logs)


async def test_a_burst_over_every_node_never_overdraws(cluster: Cluster) -> None:
    """300 calls at once spread over the three nodes, on two tokens of one user: the user has quota for 60 calls and
    each token for 40. Nobody goes below zero, every answered call is logged once, logs equal the used quota; then
    calls one at a time use up exactly what is left (the last slices are exact)."""
    a = cluster.nodes[0]
    user_id, keys = make_user(a, f"burst-{cluster.name}", 60 * COST, [40 * COST, 40 * COST])
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        answers = await asyncio.gather(*(relay(client, cluster.nodes[i % 3], keys[i % 2]) for i in range(300)))
        statuses = [answer.status_code for answer in answers]
        assert set(statuses) <= {200, 403}, [answer.text for answer in answers if answer.status_code not in (200, 403)]
    answered = statuses.count(200)
    assert 0 < answered <= 60
    # One call at a time until every node and token refuses: what is left cannot pay for another call. (New
    # connections: the burst's may have idled past the server's keep-alive while the last calls waited.)
    async with httpx.AsyncClient(timeout=120, limits=ONE_SHOT) as client:
        refusals, turn = 0, 0
        while refusals < 6:
            answer = await relay(client, cluster.nodes[turn % 3], keys[turn % 2])
            turn += 1
            assert answer.status_code in (200, 403), answer.text
            refusals = refusals + 1 if answer.status_code == 403 else 0
            answered += answer.status_code == 200
    await quiet(cluster)
    state = await figures(cluster, user_id)
    assert check_books(state, 60 * COST, 40 * COST) == answered
    assert sum(int(row["quota"]) for row in state["logs"]) == answered * COST
    # Every node's management API shows the figures all nodes wrote, not only its own calls.
    for node in cluster.nodes:
        with node.admin() as admin:
            shown = ok(admin.get(f"/api/user/{user_id}"))
        assert (shown["quota"], shown["used_quota"], shown["request_count"]) == (
            state["user"]["quota"], state["user"]["used_quota"], state["user"]["request_count"]), node.name
    remains = [left for left, _, _ in state["tokens"].values()]
    assert state["user"]["quota"] < 2 * COST or max(remains) < 2 * COST, state  # less than a hold is left
    print(f"\n{cluster.name}: {answered} calls answered of the 60 the quota allows "
          f"({statuses.count(200)} in the burst)")


async def test_changes_reach_every_node_without_a_reload(cluster: Cluster) -> None:
    """A token disabled on A is refused by B and C, a price saved on A is billed by B, a channel disabled and a user
    banned on A stop B; SYNC_FREQUENCY is 600 s, so only the change log can bring them."""
    a, b, c = cluster.nodes
    user_id, [key] = make_user(a, f"changes-{cluster.name}", 1000 * COST, [500 * COST])
    took: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=60, limits=ONE_SHOT) as client:
        assert (await relay(client, b, key)).status_code == 200  # a token made on A, first used on B
        with httpx.Client(base_url=a.url, timeout=60) as owner:
            ok(owner.post("/api/user/login", json={"username": f"changes-{cluster.name}", "password": PASSWORD}))
            [token] = ok(owner.get("/api/token/"))
            ok(owner.put("/api/token/?status_only=1", json={"id": token["id"], "status": 2}))
            took["token disabled"] = await refused_on(client, [b, c], key, 401)
            ok(owner.put("/api/token/?status_only=1", json={"id": token["id"], "status": 1}))
            took["token enabled"] = await refused_on(client, [b, c], key, 200)
        with a.admin() as admin:
            ok(admin.put("/api/option/", json={"key": "ModelRatio", "value": f'{{"{MODEL}": 2}}'}))
            took["ModelRatio saved"] = await billed_on(client, cluster, b, key, user_id, 2 * COST)
            ok(admin.put("/api/option/", json={"key": "ModelRatio", "value": f'{{"{MODEL}": 1}}'}))
            await billed_on(client, cluster, b, key, user_id, COST)
            [channel] = ok(admin.get("/api/channel/"))
            ok(admin.put("/api/channel/", json={"id": channel["id"], "status": 2}))
            took["channel disabled"] = await refused_on(client, [b, c], key, 503)
            ok(admin.put("/api/channel/", json={"id": channel["id"], "status": 1}))
            took["channel enabled"] = await refused_on(client, [b, c], key, 200)
            ok(admin.post("/api/user/manage", json={"username": f"changes-{cluster.name}", "action": "disable"}))
            took["user banned"] = await refused_on(client, [b, c], key, 403)
    print(f"\n{cluster.name}: seconds until nodes B and C saw each change made on A: "
          + ", ".join(f"{what} {seconds:.2f}" for what, seconds in took.items()))


async def refused_on(client: httpx.AsyncClient, nodes: list[Node], key: str, status: int) -> float:
    """Call each node until it answers `status`; answers the longest wait."""
    longest = 0.0
    for node in nodes:
        started = time.monotonic()
        while (await relay(client, node, key)).status_code != status:
            assert time.monotonic() - started < PATIENCE_S, f"{node.name} never answered {status}"
            await asyncio.sleep(0.05)
        longest = max(longest, time.monotonic() - started)
    return longest


async def billed_on(client: httpx.AsyncClient, cluster: Cluster, node: Node, key: str, user_id: int,
                    cost: int) -> float:
    """Call the node until a call is billed `cost` (its log shows it); answers how long that took."""
    started = time.monotonic()
    while True:
        answer = await relay(client, node, key)
        assert answer.status_code == 200, answer.text
        request_id = answer.headers["x-oneapi-request-id"]
        deadline = time.monotonic() + PATIENCE_S
        while True:
            rows = await sql(cluster.engine, "SELECT quota FROM logs WHERE user_id = :id AND request_id = :rid",
                             id=user_id, rid=request_id)
            if rows or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert rows, f"call {request_id} was never logged"
        if int(rows[0]["quota"]) == cost:
            return time.monotonic() - started
        assert time.monotonic() - started < PATIENCE_S, f"{node.name} never billed {cost}"


async def test_relay_limits_are_shared_through_redis(cluster: Cluster) -> None:
    """With Redis a token's requests-per-minute limit counts the calls of every node together."""
    if not cluster.redis:
        pytest.skip("per-token limits are shared only through Redis")
    a = cluster.nodes[0]
    user_id, [key] = make_user(a, f"limits-{cluster.name}", 1000 * COST, [500 * COST])
    with httpx.Client(base_url=a.url, timeout=60) as owner:
        ok(owner.post("/api/user/login", json={"username": f"limits-{cluster.name}", "password": PASSWORD}))
        [token] = ok(owner.get("/api/token/"))
        ok(owner.put("/api/token/", json={**token, "rpm_limit": 5}))
    async with httpx.AsyncClient(timeout=60, limits=ONE_SHOT) as client:
        await refused_on(client, cluster.nodes[1:], key, 200)  # the new limit reached every node (and used 2)
        statuses = [(await relay(client, cluster.nodes[i % 3], key)).status_code for i in range(9)]
    assert statuses.count(200) == 3 and statuses.count(429) == 6, statuses
    assert user_id > 0


async def test_a_node_killed_mid_burst_bills_nothing_twice(cluster: Cluster, tmp_path: Path) -> None:
    """SIGKILL nodes B and C in the middle of a burst. B restarts at once on its disk (its journal is written and its
    leases given back); C stays down until its leases expire and the others give them back, then restarts and writes
    its journal too. No call is billed twice, no quota is stranded, and the logs equal the used quota. (With two
    workers a node, a node's whole process group is killed at once. MariaDB's side of the replay and of expiry is
    in tests/storage/test_leases.py, which keeps the suite short.)"""
    if cluster.workers < 2:
        pytest.skip("run on the cluster with two workers a node")
    a, b, c = cluster.nodes
    quota = 100_000 * COST
    user_id, keys = make_user(a, f"kill-{cluster.name}", quota, [quota, quota])
    answered, killed = 0, asyncio.Event()
    gate = asyncio.Semaphore(24)

    async def one(client: httpx.AsyncClient, index: int) -> None:
        nonlocal answered
        async with gate:
            node = cluster.nodes[index % 3]
            try:
                answer = await relay(client, node, keys[index % 2])
            except httpx.TransportError:
                assert node is not a, "node A never went down"
                return
            assert answer.status_code == 200 or node is not a, answer.text
            answered += answer.status_code == 200
            if answered >= 45 and not killed.is_set():
                killed.set()
                b.kill()
                c.kill()
                b.start()

    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=100)) as client:
        await asyncio.gather(*(one(client, i) for i in range(180)))
    assert killed.is_set()
    b.wait_ready()
    dead = {path.name.split(".", 1)[0] for path in (c.data_dir / "journal").glob("*.jnl")}
    assert dead, "C left no journal"
    started = time.monotonic()
    while {row["owner"] for row in await sql(cluster.engine, "SELECT owner FROM tollway_leases")} & dead:
        assert time.monotonic() - started < PATIENCE_S, "C's leases never expired"
        await asyncio.sleep(0.2)
    expired_after = time.monotonic() - started
    await quiet(cluster)  # nothing stranded: every slice is back while C is still down
    c.start()
    c.wait_ready()  # its start wrote the journal it left
    await quiet(cluster)
    logged = check_books(await figures(cluster, user_id), quota, quota)
    assert logged >= answered
    print(f"\n{cluster.name}: {answered} answers, {logged} logged (calls in flight at the kill may be billed without "
          f"an answer); C's leases were given back {expired_after:.1f} s after the burst (LEASE_TTL 4 s)")

