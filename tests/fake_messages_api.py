"""A local HTTP server that speaks enough of the Anthropic Messages API for the real `anthropic`
SDK to talk to it (through ANTHROPIC_BASE_URL), with scripted replies: good answers, error
statuses, broken bodies, slow replies. It runs in a thread of the test process and counts
every request that reached it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # seconds before anything is sent


def message(text: str, input_tokens: int = 100, output_tokens: int = 50) -> Reply:
    """A well-formed Messages API reply whose text is `text`."""
    return Reply(body=json.dumps({
        "id": "msg_fake", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}}).encode())


def error(status: int, headers: dict | None = None) -> Reply:
    return Reply(status=status, headers=headers or {}, body=json.dumps({
        "type": "error", "error": {"type": "api_error", "message": f"fake {status}"}}).encode())


class FakeMessagesAPI:
    """`script(request_json) -> Reply` answers each POST /v1/messages."""

    def __init__(self, script: Callable[[dict], Reply] | Reply):
        self.script = script
        self.requests: list[dict] = []
        self.stopping = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                size = int(self.headers.get("content-length") or 0)
                request = json.loads(self.rfile.read(size) or b"{}")
                api.requests.append(request)
                script = api.script
                reply = script(request) if callable(script) else script
                if reply.delay and api.stopping.wait(reply.delay):
                    return
                self.send_response(reply.status)
                self.send_header("content-type", reply.content_type)
                self.send_header("content-length", str(len(reply.body)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request, client_address):
                pass  # a client that gave up on a slow reply closed its socket

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeMessagesAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    @property
    def count(self) -> int:
        return len(self.requests)


def session_of(request: dict) -> dict:
    """The session a consolidation request is about (the user message is the JSON payload)."""
    return json.loads(request["messages"][0]["content"])["session"]
