"""MCP servers for the tests, written with the official SDK (``mcp.server.mcpserver.MCPServer``).

    python -m tests.support.mcp_servers stdio                 # the faulty stdio server
    python -m tests.support.mcp_servers http PORT TOKEN       # streamable HTTP, bearer TOKEN

Tools (both transports):

* ``echo(text)`` → ``text``;
* ``add(a, b)`` → their sum (structured output);
* ``huge(chars)`` → ``chars`` × ``"x"`` (big output);
* ``ansi()`` → text with an escape sequence and a bell (untrusted output);
* ``sleep(seconds)`` → ``"slept"`` after ``seconds`` (time-outs, Esc);
* ``die()`` → the process exits at once, mid-call (stdio only: the HTTP server stays up);
* ``fail()`` → raises, so the SDK answers ``isError`` with the message.

The HTTP server answers 401 to any request without ``Authorization: Bearer TOKEN`` and writes
``ready PORT`` on stdout once it listens.
"""

from __future__ import annotations

import os
import sys
import time


def build(transport: str):  # type: ignore[no-untyped-def]
    """The server with its tools (``transport`` decides what ``die`` does)."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("termchat-test", version="1.0")

    @server.tool(description="Return the text unchanged.")
    def echo(text: str) -> str:
        return text

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="Return CHARS characters of output.")
    def huge(chars: int) -> str:
        return "x" * chars

    @server.tool(description="Return text with control sequences in it.")
    def ansi() -> str:
        return "red \x1b[31mRED\x1b[0m bell\x07 title\x1b]0;pwned\x07 end"

    @server.tool(description="Sleep SECONDS, then answer.")
    async def sleep(seconds: float) -> str:
        import anyio

        await anyio.sleep(seconds)
        return "slept"

    @server.tool(description="Exit the server process mid-call.")
    def die() -> str:
        if transport == "stdio":
            sys.stderr.write("test server: exiting mid-call\n")
            sys.stderr.flush()
            os._exit(3)
        return "the HTTP server does not die"

    @server.tool(description="Always fails.")
    def fail() -> str:
        raise ValueError("this tool always fails")

    return server


def _serve_http(port: int, token: str) -> None:
    import uvicorn

    app = build("http").streamable_http_app()

    async def guarded(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if headers.get(b"authorization") != f"Bearer {token}".encode():
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"text/plain"),
                                        (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await app(scope, receive, send)

    config = uvicorn.Config(guarded, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on")
    server = uvicorn.Server(config)

    import threading

    def announce() -> None:
        while not server.started:
            time.sleep(0.01)
        print(f"ready {port}", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    server.run()


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        build("stdio").run("stdio")
    else:
        _serve_http(int(sys.argv[2]), sys.argv[3])
