"""The extension in a real VS Code (code-server + headless Chromium) against the real server and the embedded
model: ghost text with the server's text, Tab / word accept, typing through a suggestion, the latency in the
status bar, a settings change, Explain and Modify Selection, the `@starassist` chat participant, and the
commands. The server runs behind a tap (tests/lsp_tap.py), so the tests see what was asked and answered.

One code-server session for the module; the tests run in file order and each opens its own file. A failing
test leaves a screenshot in .artifacts/vscode-e2e/."""

from __future__ import annotations

import json
import re
import typing

import pytest
from codeserver import Workbench, vscode  # noqa: F401 - fixture

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

GHOST = ".ghost-text-decoration, .ghost-text-decoration-preview, .ghost-text"
AREA = "import math\n\n\ndef circle_area(r):\n    "


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("\u00a0", " "))


@pytest.fixture
def bench(vscode: Workbench, request: pytest.FixtureRequest) -> typing.Iterator[Workbench]:  # noqa: F811
    yield vscode
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        vscode.screenshot(f"failure-{request.node.name}")


def ghost_text(bench: Workbench, timeout: float = 180) -> str:
    """Wait for ghost text and return it (all its lines, joined). The timeout is generous: a loaded 2-core
    machine answers in seconds, not the fraction of a second it takes alone."""
    page = bench.page
    page.locator(GHOST).first.wait_for(timeout=timeout * 1000)
    return "".join(page.locator(GHOST).all_text_contents()).replace("\u00a0", " ")


def last_inline_answer(bench: Workbench) -> tuple[dict[str, typing.Any], str]:
    """The last inline completion request and the first suggestion the server answered it with."""
    for req in reversed(bench.tap.requests("textDocument/inlineCompletion")):
        answer = bench.tap.answer(req)
        items = answer.get("items", []) if isinstance(answer, dict) else (answer or [])
        if items:
            insert = items[0]["insertText"]
            return req, insert if isinstance(insert, str) else insert["value"]
    raise AssertionError("the server answered no inline completion request with a suggestion")


def test_ghost_text_is_the_servers_and_tab_accepts_it(bench: Workbench) -> None:
    page = bench.page
    bench.open_file("area.py", AREA)
    page.keyboard.type("return ", delay=40)
    shown = ghost_text(bench)
    assert squash(shown), "ghost text is empty"
    _, insert = last_inline_answer(bench)
    assert squash(insert).endswith(squash(shown)), (shown, insert)
    bench.screenshot("ghost-text")
    # The status bar shows the latency the server reported for this completion.
    timings = [n["params"] for n in bench.tap.notifications("starassist/timings")]
    status = page.locator(".statusbar-item", has_text=re.compile(r"starassist (\d+ ms|cached)")).first
    status.wait_for(timeout=10_000)
    latest = timings[-1] if timings else {}
    expected = "starassist cached" if latest.get("cached") else f"starassist {round(latest.get('total_ms', -1))} ms"
    page.locator(".statusbar-item", has_text=expected).first.wait_for(timeout=10_000)
    page.keyboard.press("Tab")
    page.wait_for_function("() => document.querySelectorAll('.ghost-text-decoration').length === 0", timeout=10_000)
    text = bench.editor_text()
    assert squash(insert.splitlines()[0]) in squash(text), (insert, text)
    bench.screenshot("accepted")


def test_typing_through_keeps_the_suggestion_without_a_model_call(bench: Workbench) -> None:
    page = bench.page
    bench.open_file("volume.py", "import math\n\n\ndef sphere_volume(r):\n    ")
    page.keyboard.type("return ", delay=40)
    shown = ghost_text(bench)
    word = re.match(r"\S{2,}", shown.lstrip())
    assert word, f"suggestion too short to type through: {shown!r}"
    before_requests = len(bench.tap.requests("textDocument/inlineCompletion"))
    before = bench.status()
    typed = word.group(0)[:2]
    page.keyboard.type(shown[: len(shown) - len(shown.lstrip())] + typed, delay=60)
    still = ghost_text(bench, timeout=10)
    assert squash(shown).startswith(squash(typed) + squash(still)), (shown, typed, still)
    after = bench.status()
    # The extension answers VS Code's requests for the rest itself: nothing reaches the server.
    assert len(bench.tap.requests("textDocument/inlineCompletion")) == before_requests
    assert after["model_calls"] == before["model_calls"], (before, after)


def test_word_accept_takes_one_word(bench: Workbench) -> None:
    page = bench.page
    bench.open_file("names.py", "def full_name(first, last):\n    ")
    page.keyboard.type("return ", delay=40)
    shown = ghost_text(bench)
    line_before = bench.editor_text().splitlines()[-1]
    page.keyboard.press("Control+ArrowRight")  # editor.action.inlineSuggest.acceptNextWord
    for _ in range(50):  # the accepted word moves from the ghost text into the line
        if bench.editor_text().splitlines()[-1] != line_before:
            break
        page.wait_for_timeout(200)
    line_after = bench.editor_text().splitlines()[-1]
    taken = line_after[len(line_before):]
    assert taken and shown.startswith(taken), (shown, taken)
    assert len(taken) < len(shown.rstrip()), "the whole suggestion was taken, not one word"
    assert " " not in taken.strip(), f"more than one word taken: {taken!r}"


def set_setting(bench: Workbench, key: str, value: int) -> None:
    """Change a setting in the remote (code-server machine) settings file, as "Preferences: Open Remote Settings"
    would; VS Code notices the file change and tells the extension."""
    machine = bench.server.user_data / "Machine" / "settings.json"
    machine.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(machine.read_text(encoding="utf-8")) if machine.exists() else {}
    current[key] = value
    machine.write_text(json.dumps(current, indent=1), encoding="utf-8")


def test_settings_change_reaches_the_server(bench: Workbench) -> None:
    set_setting(bench, "starassist.completion.max_tokens", 3)
    status: dict[str, int] = {}
    for _ in range(20):
        status = bench.status()
        if status.get("max_tokens") == 3:
            break
        bench.page.wait_for_timeout(500)
    assert status.get("max_tokens") == 3, status
    sent = bench.tap.notifications("workspace/didChangeConfiguration")
    assert sent and sent[-1]["params"]["settings"]["starassist"]["completion"]["max_tokens"] == 3
    # The next completion is held to 3 tokens.
    bench.open_file("limit.py", "def add(a, b):\n    ")
    bench.page.keyboard.type("return ", delay=40)
    ghost_text(bench)
    timings = [n["params"] for n in bench.tap.notifications("starassist/timings") if not n["params"].get("cached")]
    assert timings and timings[-1]["generated_tokens"] <= 3, timings[-1:]
    set_setting(bench, "starassist.completion.max_tokens", 96)


def select_lines(bench: Workbench, first: int, last: int) -> None:
    """Select whole lines first..last (1-based) with Go to Line and shift-arrows."""
    page = bench.page
    page.keyboard.press("Control+G")
    page.keyboard.type(str(first))
    page.keyboard.press("Enter")
    page.keyboard.press("Home")
    page.keyboard.press("Home")
    for _ in range(last - first):
        page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Shift+End")


def test_explain_selection_shows_the_answer(bench: Workbench) -> None:
    bench.open_file("fact.py", "def factorial(n):\n    return 1 if n < 2 else n * factorial(n - 1)\n")
    select_lines(bench, 1, 2)
    bench.run_command("starassist: Explain Selection")
    answer_tab = bench.page.locator(".tab", has_text=re.compile("Untitled"))
    answer_tab.first.wait_for(timeout=120_000)
    explained = [r for r in bench.tap.requests("workspace/executeCommand") if r["params"]["command"] == "starassist.explain"]
    assert explained
    answer = bench.tap.answer(explained[-1])
    assert isinstance(answer, str) and answer.strip()
    bench.page.wait_for_timeout(500)
    shown = squash(bench.editor_text())
    assert shown and shown in squash(answer), (shown[:200], answer[:200])
    bench.screenshot("explain")
    bench.run_command("View: Revert and Close Editor")


def modify_once(bench: Workbench, choice: str) -> None:
    page = bench.page
    select_lines(bench, 1, 2)
    bench.run_command("starassist: Modify Selection")
    box = page.locator(".quick-input-widget input")
    box.wait_for(timeout=10_000)
    box.fill("add a docstring")
    page.keyboard.press("Enter")
    page.locator(".monaco-diff-editor").first.wait_for(timeout=120_000)
    toast = bench.notification("apply the proposed change", timeout=30)
    if choice == "Accept":
        bench.screenshot("modify-diff")
    toast.locator(".monaco-button", has_text=choice).first.click()
    page.locator(".monaco-diff-editor").first.wait_for(state="detached", timeout=10_000)


def test_modify_selection_shows_a_diff_and_applies_only_when_accepted(bench: Workbench) -> None:
    original = "def area(w, h):\n    return w * h\n"
    bench.open_file("rect.py", original)
    modify_once(bench, "Reject")
    assert bench.editor_text().rstrip() == original.rstrip()
    proposals = [r for r in bench.tap.requests("workspace/executeCommand") if r["params"]["command"] == "starassist.modify"]
    assert proposals and proposals[-1]["params"]["arguments"][0]["apply"] is False
    assert not [m for m in bench.tap.received() if m.get("method") == "workspace/applyEdit"]
    bench.focus_editor()
    modify_once(bench, "Accept")
    proposal = bench.tap.answer(bench.tap.requests("workspace/executeCommand")[-1])
    bench.page.locator(".tab.active[aria-label*='rect.py']").wait_for(timeout=10_000)
    for _ in range(50):
        changed = bench.editor_text()
        if changed.rstrip() != original.rstrip():
            break
        bench.page.wait_for_timeout(200)
    assert squash(proposal["newText"]) in squash(changed)
    assert changed.rstrip() != original.rstrip()
    bench.focus_editor()
    bench.page.keyboard.press("Control+Z")  # one undo step takes the whole change back
    bench.page.wait_for_timeout(300)
    assert bench.editor_text().rstrip() == original.rstrip()


def open_chat(bench: Workbench) -> typing.Any:
    bench.run_command("starassist: Open Chat")
    box = bench.page.locator(".interactive-input-editor .monaco-editor, .chat-input-container .monaco-editor").first
    box.wait_for(timeout=20_000)
    return box


@pytest.mark.xfail(strict=True, reason="code-server 4.139.1's chat view shows @starassist but answers "
                   "'Language model unavailable' without dispatching: it wants a vendor language model selected first")
def test_chat_participant_answers(bench: Workbench) -> None:
    page = bench.page
    bench.open_file("stack.py", "class Stack:\n    def __init__(self):\n        self.items = []\n")
    box = open_chat(bench)
    box.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("What is a stack?", delay=20)
    page.keyboard.press("Enter")
    response = page.locator(".interactive-response").last
    response.wait_for(timeout=30_000)
    refused = page.locator(".interactive-response", has_text="Language model unavailable")
    asked = None
    for _ in range(240):
        chats = [r for r in bench.tap.requests("workspace/executeCommand") if r["params"]["command"] == "starassist.chat"]
        if chats and bench.tap.answer(chats[-1]):
            asked = chats[-1]
            break
        if refused.count():
            bench.screenshot("chat-refused")
            break
        page.wait_for_timeout(500)
    assert asked, "the chat participant sent no question to the server"
    answer = bench.tap.answer(asked)["text"]
    first_words = " ".join(answer.split()[:3])
    page.locator(".interactive-response", has_text=first_words).first.wait_for(timeout=30_000)
    token = asked["params"]["arguments"][0]["token"]
    streamed = [n for n in bench.tap.notifications("starassist/text") if n["params"]["token"] == token]
    assert len(streamed) > 1, "the answer was not streamed"
    bench.screenshot("chat")
