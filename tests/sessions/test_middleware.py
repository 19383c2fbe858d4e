"""SessionMiddleware in front of a Starlette app, driven through httpx."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from aioredpat import RedisPool, SessionMiddleware, SessionStore
from aioredpat.sessions import end_session, rotate_session
from aioredpat.testing import command_counts, reset_command_counts


def make_app(store: SessionStore, **options) -> SessionMiddleware:
    async def home(request: Request) -> JSONResponse:
        return JSONResponse(dict(request.session))

    async def count(request: Request) -> JSONResponse:
        request.session["n"] = request.session.get("n", 0) + 1
        return JSONResponse(dict(request.session))

    async def login(request: Request) -> PlainTextResponse:
        request.session["user"] = request.query_params["user"]
        rotate_session(request.scope, user=request.query_params["user"])
        return PlainTextResponse("in")

    async def logout(request: Request) -> PlainTextResponse:
        end_session(request.scope, everywhere=request.query_params.get("all") == "1")
        return PlainTextResponse("out")

    routes = [
        Route("/", home),
        Route("/count", count, methods=["POST"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
    return SessionMiddleware(Starlette(routes=routes), store, **options)


def client(app: SessionMiddleware) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver")


async def test_cookie_flags_and_a_counter(aioredpat_conn: RedisPool) -> None:
    store = SessionStore(aioredpat_conn, ttl=600)
    async with client(make_app(store)) as http:
        first = await http.post("/count")
        assert first.json() == {"n": 1}
        header = first.headers["set-cookie"]
        assert "HttpOnly" in header and "Secure" in header and "SameSite=Lax" in header
        assert "Max-Age=600" in header and "Path=/" in header
        assert (await http.post("/count")).json() == {"n": 2}
        assert (await http.get("/")).json() == {"n": 2}


async def test_saved_only_when_changed(aioredpat_pool: RedisPool) -> None:
    store = SessionStore(aioredpat_pool)
    async with client(make_app(store)) as http:
        await http.post("/count")
        await http.get("/")  # warm
        await reset_command_counts(aioredpat_pool)
        await http.get("/")
        reading = (await command_counts(aioredpat_pool))["evalsha"]
        await reset_command_counts(aioredpat_pool)
        await http.post("/count")
        changing = (await command_counts(aioredpat_pool))["evalsha"]
    assert (reading, changing) == (1, 2)  # one round trip to read, two to change


async def test_login_rotates_and_logout_everywhere(aioredpat_conn: RedisPool) -> None:
    store = SessionStore(aioredpat_conn)
    app = make_app(store)
    async with client(app) as laptop, client(app) as phone:
        await laptop.post("/count")
        before = laptop.cookies["session"]
        await laptop.post("/login?user=ann")
        after = laptop.cookies["session"]
        assert after != before
        assert await store.get(before) is None  # the pre-login id is dead
        assert (await laptop.get("/")).json() == {"n": 1, "user": "ann"}
        await phone.post("/login?user=ann")
        assert (await phone.get("/")).json() == {"user": "ann"}
        await phone.post("/logout?all=1")
        assert (await laptop.get("/")).json() == {}
        assert (await phone.get("/")).json() == {}


@pytest.mark.parametrize(
    "cookie", ["tampered", "x" * 5000, "%C3%A9t%C3%A9", "a" * 43, "{x}", '"quoted"', ""]
)
async def test_a_bad_cookie_gives_a_fresh_session(aioredpat_conn: RedisPool, cookie: str) -> None:
    async with client(make_app(SessionStore(aioredpat_conn))) as http:
        answer = await http.get(
            "/", headers={"cookie": f"session={cookie}".encode().decode("latin-1")}
        )
        assert answer.status_code == 200 and answer.json() == {}
        if cookie:
            assert "Max-Age=0" in answer.headers["set-cookie"]  # the dead cookie is cleared


async def test_redis_down_is_a_clear_503(aioredpat_server_factory) -> None:
    server = aioredpat_server_factory()
    async with (
        RedisPool.from_url(server.url, retries=0) as pool,
        client(make_app(SessionStore(pool))) as http,
    ):
        assert (await http.post("/count")).status_code == 200
        server.kill()
        answer = await http.get("/")
        assert answer.status_code == 503
        assert answer.text == "session store unavailable"
        teapot = make_app(SessionStore(pool), unavailable_status=418)
        async with client(teapot) as other:
            assert (await other.post("/count")).status_code == 418  # saving fails too
