"""Wire formats of team inference servers, as data, and a streaming client that cancels by closing the socket.

Each `WireFormat` says which path to POST, how to build the body from a prompt (or prefix/suffix for
`/infill`) and how to read one server-sent-event payload into text. The API key is read from the environment
variable named in settings at request time and only ever placed in the Authorization header: it is never
stored on an object that is logged, printed or timed.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import StarassistError


class RemoteError(StarassistError):
    pass


@dataclass(frozen=True)
class Request:
    prompt: str = ""  # the FIM prompt rendered as text with the model's special tokens
    prefix: str = ""  # for /infill: the server builds the FIM prompt itself
    suffix: str = ""
    model: str = ""
    max_tokens: int = 64
    temperature: float = 0.0
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class WireFormat:
    name: str
    path: str
    body: Callable[[Request], dict[str, Any]]
    text_of: Callable[[dict[str, Any]], str]  # one SSE `data:` payload -> the text it adds


FORMATS: dict[str, WireFormat] = {
    "openai": WireFormat(
        "openai", "/v1/completions",
        lambda r: {"model": r.model, "prompt": r.prompt, "max_tokens": r.max_tokens,
                   "temperature": r.temperature, "stop": list(r.stop), "stream": True},
        lambda d: "".join(c.get("text") or "" for c in d.get("choices", [])),
    ),
    "llama-infill": WireFormat(
        "llama-infill", "/infill",
        lambda r: {"input_prefix": r.prefix, "input_suffix": r.suffix, "n_predict": r.max_tokens,
                   "temperature": r.temperature, "stop": list(r.stop), "stream": True},
        lambda d: d.get("content") or "",
    ),
    "tgi": WireFormat(
        "tgi", "/generate_stream",
        lambda r: {"inputs": r.prompt, "parameters": {
            "max_new_tokens": r.max_tokens, "stop": list(r.stop),
            # TGI rejects temperature 0: greedy is do_sample false.
            **({"do_sample": True, "temperature": r.temperature} if r.temperature > 0 else {"do_sample": False}),
        }},
        lambda d: "" if (d.get("token") or {}).get("special") else (d.get("token") or {}).get("text", ""),
    ),
}

# One line per HTTP status: what it means for the user and the fix.
STATUS_MESSAGES = {
    401: "the server refused the API key (401) — set the variable named by remote.api_key_env",
    403: "the server forbids this key (403) — ask the server's admin for access",
    404: "the server has no {path} or no model {model!r} (404) — check remote.url, remote.api and remote.model",
    429: "the server is busy (429, rate limited) — try again shortly",
}


def sse_payloads(lines: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    """`data:` payloads of a server-sent-event stream, until `[DONE]`."""
    for raw in lines:
        line = raw.decode("utf-8").strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        yield json.loads(data)


def error_for(status: int, path: str, model: str, body: str) -> RemoteError:
    if status in STATUS_MESSAGES:
        return RemoteError(STATUS_MESSAGES[status].format(path=path, model=model))
    if status >= 500:
        return RemoteError(f"the server failed ({status}): {body.strip()[:200]} — check the server's log")
    return RemoteError(f"the server answered {status}: {body.strip()[:200]}")


def api_key(env_name: str) -> str | None:
    if not env_name:
        return None
    key = os.environ.get(env_name)
    if not key:
        raise RemoteError(f"remote.api_key_env names {env_name}, which is not set — export {env_name}=<your key>")
    return key


def stream(
    url: str, fmt: WireFormat, request: Request, *, key_env: str = "", cancel: Callable[[], bool] = lambda: False,
    connect_timeout: float = 5.0, read_timeout: float = 60.0,
) -> Iterator[str]:
    """Text chunks from the server. A cancel closes the connection at once, so the server stops generating."""
    parts = urllib.parse.urlsplit(url)
    conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = parts.path.rstrip("/") + fmt.path
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    key = api_key(key_env)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = json.dumps(fmt.body(request)).encode()
    for attempt in (1, 2):  # one retry when the connection is reset before an answer
        conn = conn_type(parts.hostname, parts.port, timeout=connect_timeout)
        try:
            conn.request("POST", path, body=body, headers=headers)
            sock = conn.sock  # http.client drops its reference when the server says Connection: close
            response = conn.getresponse()
            break
        except (ConnectionResetError, http.client.RemoteDisconnected):
            conn.close()
            if attempt == 2:
                raise RemoteError(f"the server at {url} dropped the connection twice — check that it is running") from None
        except OSError as exc:  # refused, timed out, unknown host
            conn.close()
            raise RemoteError(f"cannot reach the server at {url} ({exc.__class__.__name__}) — is it running?") from None
    if response.status != 200:
        text = response.read().decode("utf-8", "replace")
        conn.close()
        raise error_for(response.status, path, request.model, text)
    sock.settimeout(read_timeout)
    done = threading.Event()

    def watch() -> None:  # closes the socket as soon as cancel() turns true, even while a read blocks
        while not done.wait(0.01):
            if cancel():
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        for payload in sse_payloads(iter(response.readline, b"")):
            if cancel():
                return
            text = fmt.text_of(payload)
            if text:
                yield text
    except (OSError, ValueError, http.client.HTTPException):
        if not cancel():
            raise RemoteError(f"the server at {url} stopped answering mid-stream — check the server") from None
    finally:
        done.set()
        response.close()
        conn.close()
