"""A dead cluster master fails only the calls whose keys live on it."""

from __future__ import annotations

import asyncio

import anyio
from redis.exceptions import RedisError

from aioredpat import RedisPool, TokenBucket
from tests._wait import eventually


async def test_a_dead_master_fails_only_its_own_keys(aioredpat_cluster_factory) -> None:
    # with full coverage required (Redis' default) every node refuses every key between the
    # node timeout and the failover; here the healthy masters go on serving their slots
    cluster = aioredpat_cluster_factory(
        replicas=1, node_timeout=2000, args=["--cluster-require-full-coverage", "no"]
    )
    masters = cluster.nodes[: cluster.masters]
    async with RedisPool.cluster([m.url for m in masters]) as pool:
        bucket = TokenBucket(pool, namespace="api", capacity=10**9, refill_rate=10**6)
        # one identifier per master
        by_master: dict[int, str] = {}
        for i in range(1000):
            node = cluster.master_of(bucket._key_list(f"user-{i}")[0])
            by_master.setdefault(node.port, f"user-{i}")
            if len(by_master) == len(masters):
                break
        victim = masters[0]
        doomed = by_master[victim.port]
        healthy = [ident for port, ident in by_master.items() if port != victim.port]

        async def round_() -> dict[str, int]:
            idents = [doomed, *healthy] * 20  # concurrent: they leave coalesced
            results = await asyncio.gather(*(bucket.hit(i) for i in idents), return_exceptions=True)
            failed: dict[str, int] = {}
            for ident, result in zip(idents, results, strict=True):
                if isinstance(result, BaseException):
                    assert isinstance(result, RedisError | OSError), result
                    failed[ident] = failed.get(ident, 0) + 1
            return failed

        assert await round_() == {}
        cluster.kill_master(victim, wait_for_failover=False)
        rounds = doomed_failures = 0
        with anyio.fail_after(120):
            while not await asyncio.to_thread(cluster._ready_without, victim.port):
                failed = await round_()
                rounds += 1
                doomed_failures += failed.pop(doomed, 0)
                assert failed == {}, f"healthy masters' keys failed in round {rounds}"
        assert doomed_failures > 0  # the fault did hit: the victim's key failed meanwhile

        async def doomed_works_again() -> bool:
            return doomed not in await round_()

        await eventually(doomed_works_again, bound=60)  # the replica serves it now
