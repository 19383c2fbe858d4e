"""Sessions in a Starlette app: log in (the id rotates), count, log out, log out everywhere.

REDIS_URL=redis://localhost:6379/0 uvicorn examples.sessions_app:app --factory
(served over plain HTTP on localhost, which browsers treat as secure for Secure cookies)
"""

from __future__ import annotations

import html
import os
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.routing import Route

from aioredpat import RedisPool, SessionMiddleware, SessionStore
from aioredpat.sessions import end_session, rotate_session

PAGE = """<!doctype html>
<title>aioredpat sessions</title>
<p id="user">{user}</p>
<p id="count">{count}</p>
<form method="post" action="/login"><input name="user" id="name">
<button id="login">Log in</button></form>
<form method="post" action="/count"><button id="more">Count</button></form>
<form method="post" action="/logout"><button id="logout">Log out</button></form>
<form method="post" action="/logout?everywhere=1">
<button id="everywhere">Log out everywhere</button></form>
"""


def create_app(redis_url: str) -> SessionMiddleware:
    pool = RedisPool.from_url(redis_url)
    store = SessionStore(pool, ttl=3600, absolute_ttl=86400)

    async def home(request: Request) -> HTMLResponse:
        session = request.session
        user = html.escape(session.get("user", "anonymous"))
        return HTMLResponse(PAGE.format(user=user, count=session.get("count", 0)))

    async def login(request: Request) -> RedirectResponse:
        form = urllib.parse.parse_qs((await request.body()).decode())  # a urlencoded form
        user = form.get("user", [""])[0]
        if user:
            request.session["user"] = user
            rotate_session(request.scope, user=user)  # a new id at login: no fixation
        return RedirectResponse("/", status_code=303)

    async def count(request: Request) -> RedirectResponse:
        request.session["count"] = request.session.get("count", 0) + 1
        return RedirectResponse("/", status_code=303)

    async def logout(request: Request) -> RedirectResponse:
        end_session(request.scope, everywhere=request.query_params.get("everywhere") == "1")
        return RedirectResponse("/", status_code=303)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with pool:
            yield

    routes = [
        Route("/", home),
        Route("/login", login, methods=["POST"]),
        Route("/count", count, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
    return SessionMiddleware(Starlette(routes=routes, lifespan=lifespan), store)


def app() -> SessionMiddleware:
    return create_app(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
