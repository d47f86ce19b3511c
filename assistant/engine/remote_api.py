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
import re
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
    messages: tuple[dict[str, str], ...] = ()  # for /v1/chat/completions
    model: str = ""
    max_tokens: int = 64
    temperature: float = 0.0
    repeat_penalty: float = 1.0  # llama.cpp servers default to 1.1 unless told: say it, as locally
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
                   "temperature": r.temperature, "repeat_penalty": r.repeat_penalty, "stop": list(r.stop),
                   "stream": True},
        lambda d: "".join(c.get("text") or "" for c in d.get("choices", [])),
    ),
    "openai-chat": WireFormat(
        "openai-chat", "/v1/chat/completions",
        lambda r: {"model": r.model, "messages": list(r.messages), "max_tokens": r.max_tokens,
                   "temperature": r.temperature, "repeat_penalty": r.repeat_penalty, "stop": list(r.stop),
                   "stream": True},
        lambda d: "".join((c.get("delta") or {}).get("content") or "" for c in d.get("choices", [])),
    ),
    "llama-infill": WireFormat(
        "llama-infill", "/infill",
        lambda r: {"input_prefix": r.prefix, "input_suffix": r.suffix, "n_predict": r.max_tokens,
                   "temperature": r.temperature, "repeat_penalty": r.repeat_penalty, "stop": list(r.stop),
                   "stream": True},
        lambda d: d.get("content") or "",
    ),
    "tgi": WireFormat(
        "tgi", "/generate_stream",
        lambda r: {"inputs": r.prompt, "parameters": {
            "max_new_tokens": r.max_tokens, "stop": list(r.stop),
            **({"repetition_penalty": r.repeat_penalty} if r.repeat_penalty != 1.0 else {}),
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


# How servers say a prompt is longer than their context (llama-server, llama-cpp-python, vLLM, TGI), with the size.
_CONTEXT_ERRORS = re.compile(r"context size \((\d+) tokens\)|context window of (\d+)|maximum context length is (\d+)"
                             r"|must be <= (\d+)")


def error_for(status: int, path: str, model: str, body: str) -> RemoteError:
    lowered = body.lower()
    too_long = _CONTEXT_ERRORS.search(body) if status in (400, 413, 422, 500) else None
    if too_long:
        size = next(g for g in too_long.groups() if g)
        return RemoteError(f"the prompt is longer than the server's context of {size} tokens ({status}) — set "
                           f"model.context_length = {size}, or give the server more context (llama-server: -c is "
                           "shared by the -np slots)")
    if status in (400, 500, 501) and ("infill" in lowered or "fim" in lowered):
        return RemoteError(f"the server is up but its model has no FIM tokens ({status}) — serve a FIM model such as "
                           "StarCoder2, or use remote.api = openai with model.fim_format = none")
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


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urllib.parse.urlsplit(url)
    conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    return conn_type(parts.hostname, parts.port, timeout=timeout), parts.path.rstrip("/")


def call_json(url: str, path: str, body: dict[str, Any] | None = None, *, key_env: str = "",
              timeout: float = 5.0) -> dict[str, Any]:
    """One small JSON request (GET without a body, POST with one): model lists, tokenizer probes."""
    headers = {"Accept": "application/json"}
    key = api_key(key_env)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    conn, base = _connection(url, timeout)
    try:
        try:
            conn.request("GET" if data is None else "POST", base + path, body=data, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        except OSError as exc:
            raise RemoteError(f"cannot reach the server at {url} ({exc.__class__.__name__}) — is it running?") from None
        except http.client.HTTPException:
            raise RemoteError(f"the server at {url} did not answer HTTP — check remote.url") from None
        if response.status != 200:
            raise error_for(response.status, base + path, "", text)
        try:
            return json.loads(text)
        except ValueError:
            raise RemoteError(f"the server at {url} answered {path} with something that is not JSON — check remote.url") from None
    finally:
        conn.close()


def _watch(sock: socket.socket, cancel: Callable[[], bool], done: threading.Event) -> None:
    """Shut the socket down as soon as cancel() turns true, even while a read blocks: the server sees the
    disconnect at once and stops generating for a superseded keystroke."""
    flag = getattr(cancel, "__self__", None)
    if isinstance(flag, threading.Event) and getattr(cancel, "__name__", "") == "is_set":
        # The LSP's cancel flag is an Event: wake the moment it is set rather than at the next poll.
        while not done.is_set():
            if flag.wait(0.05):
                break
        else:
            return
    else:
        while not cancel():
            if done.wait(0.005):
                return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def stream(
    url: str, fmt: WireFormat, request: Request, *, key_env: str = "", cancel: Callable[[], bool] = lambda: False,
    connect_timeout: float = 5.0, read_timeout: float = 60.0,
) -> Iterator[str]:
    """Text chunks from the server. A cancel closes the connection at once, so the server stops generating."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname is None or parts.scheme not in ("http", "https"):
        raise RemoteError(f"remote.url {url!r} is not an http(s) URL — write it like http://gpu-box:8080")
    conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = parts.path.rstrip("/") + fmt.path
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    key = api_key(key_env)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = json.dumps(fmt.body(request)).encode()
    done = threading.Event()
    for attempt in (1, 2):  # one retry when the connection is reset before an answer
        conn = conn_type(parts.hostname, parts.port, timeout=connect_timeout)
        try:
            conn.connect()
            sock = conn.sock  # http.client drops its reference when the server says Connection: close
            sock.settimeout(read_timeout)
            if attempt == 1:
                threading.Thread(target=_watch, args=(sock, cancel, done), daemon=True).start()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            break
        except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
            conn.close()
            if cancel():
                done.set()
                return
            if attempt == 2:
                done.set()
                raise RemoteError(f"the server at {url} dropped the connection twice — check that it is running") from None
            done.set()
            done = threading.Event()
        except TimeoutError:
            conn.close()
            done.set()
            raise RemoteError(f"the server at {url} did not answer within {read_timeout:g} s — it is overloaded "
                              "or down; raise remote.timeout_s for a slow server") from None
        except OSError as exc:  # refused, unknown host
            conn.close()
            done.set()
            if cancel():
                return
            raise RemoteError(f"cannot reach the server at {url} ({exc.__class__.__name__}) — is it running?") from None
    if attempt == 2:  # the retry's socket needs its own watcher
        threading.Thread(target=_watch, args=(sock, cancel, done), daemon=True).start()
    try:
        if response.status != 200:
            text = response.read().decode("utf-8", "replace")
            raise error_for(response.status, path, request.model, text)
        for payload in sse_payloads(iter(response.readline, b"")):
            if cancel():
                return
            text = fmt.text_of(payload)
            if text:
                yield text
    except TimeoutError:
        if not cancel():
            raise RemoteError(f"the server at {url} sent nothing for {read_timeout:g} s — it is overloaded; "
                              "raise remote.timeout_s for a slow server") from None
    except (OSError, ValueError, http.client.HTTPException):
        if not cancel():
            raise RemoteError(f"the server at {url} stopped answering mid-stream — check the server") from None
    finally:
        done.set()
        response.close()
        conn.close()
