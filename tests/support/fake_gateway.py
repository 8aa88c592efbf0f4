"""The LiteLLM proxy's own routes on the scripted loopback server (:mod:`tests.support.fake_openai`),
for what the real proxy in the tests cannot serve without its Postgres database.

A test points a ``kind = "litellm_proxy"`` endpoint at a :class:`FakeOpenAI` and sets
``srv.key_info`` to the ``info`` object ``GET /key/info`` answers (the shape LiteLLM 1.106's
``info_key_fn`` returns: ``spend``, ``max_budget``, ``budget_duration``, ``budget_reset_at``,
``key_alias``, ``team_id``…), or leaves it ``None`` for the answer of a proxy without its
database (``400 {"error": {"type": "no_db_connection"}}``). ``/health/liveliness`` answers
``"I'm alive!"``; ``/model/info`` answers ``srv.model_info`` (a list of entries) or ``[]``.
Requests are recorded like every other (``srv.requests_to("/key/info")``).
"""

from __future__ import annotations

from typing import Any

#: The answer of a LiteLLM proxy without its database to a route that needs it.
NO_DB = {"error": {"message": "No connected db.", "type": "no_db_connection", "param": None,
                   "code": "400"}}


def route(handler: Any, method: str, path: str) -> bool:
    """Serve ``path`` if it is one of the proxy's own routes; returns whether it was."""
    owner = handler.owner
    if method != "GET":
        return False
    if path == "/health/liveliness":
        handler._send_json(200, "I'm alive!")
    elif path == "/key/info":
        info = getattr(owner, "key_info", None)
        if info is None:
            handler._send_json(400, NO_DB)
        else:
            auth = handler.headers.get("Authorization", "")
            handler._send_json(200, {"key": auth.removeprefix("Bearer ")[:6] + "…", "info": info})
    elif path == "/model/info":
        handler._send_json(200, {"data": list(getattr(owner, "model_info", None) or [])})
    else:
        return False
    return True
