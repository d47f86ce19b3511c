"""The extension in a real VS Code (code-server + headless Chromium) against the real server and the embedded
model: ghost text with the server's text, Tab / word accept, typing through a suggestion, the latency in the
status bar, a settings change, Explain and Modify Selection, the "starassist Chat" panel, and the commands. The
server runs behind a tap (tests/lsp_tap.py), so the tests see what was asked and answered.

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


def chat_panel(bench: Workbench) -> typing.Any:
    """The "starassist Chat" page. VS Code hosts a webview in two iframes: its host frame, then the page's own
    (`#active-frame`; `#pending-frame` while it loads)."""
    return bench.page.frame_locator("iframe.webview.ready").first.frame_locator("#active-frame")


def first_group(bench: Workbench) -> None:
    """Focus the code's editor group (the panel opens beside it), so files open there."""
    bench.run_command("View: Focus First Editor Group")


def open_chat_panel(bench: Workbench) -> typing.Any:
    bench.run_command("starassist: Open Chat")
    chat = chat_panel(bench)
    chat.locator("#input").wait_for(timeout=20_000)
    return chat


def ask_in_panel(bench: Workbench, chat: typing.Any, text: str, command: str = "starassist.chat") -> dict[str, typing.Any]:
    """Send `text` from the panel; the server's request for it once answered (pieces streamed by then)."""
    before = len(chat.locator(".msg[data-state=done]").all())
    sent = len([r for r in bench.tap.requests("workspace/executeCommand") if r["params"]["command"] == command])
    chat.locator("#input").fill(text)
    chat.locator("#input").press("Enter")
    chat.locator(".msg[data-state=done]").nth(before + 1).wait_for(timeout=180_000)  # the question, then the answer
    asked = [r for r in bench.tap.requests("workspace/executeCommand") if r["params"]["command"] == command]
    assert len(asked) == sent + 1, f"the panel sent no {command} request"
    return asked[-1]


def rendered(markdown: str) -> str:
    """What the panel shows of an answer: the text, fenced code without its fence lines."""
    return "\n".join(line for line in markdown.split("\n") if not re.match(r"\s*```", line))


def assert_streamed_and_shown(bench: Workbench, chat: typing.Any, request: dict[str, typing.Any], text: str) -> None:
    """The answer came in more than one `starassist/text` piece and the panel's last answer is the final text."""
    token = request["params"]["arguments"][0]["token"]
    pieces = [n["params"]["text"] for n in bench.tap.notifications("starassist/text") if n["params"]["token"] == token]
    assert len(pieces) > 1, f"the answer was not streamed: {pieces}"
    assert "".join(pieces).strip() == text.strip()
    shown = chat.locator(".msg.assistant[data-state=done] .body").last.inner_text()
    assert squash(shown) == squash(rendered(text)), (shown[:300], text[:300])


def test_chat_panel_streams_answers_with_the_selection_as_context(bench: Workbench) -> None:
    set_setting(bench, "starassist.chat.max_tokens", 48)  # short answers: the tests check plumbing, not prose
    code = "class Stack:\n    def __init__(self):\n        self.items = []\n"
    bench.open_file("stack.py", code)
    select_lines(bench, 1, 3)
    chat = open_chat_panel(bench)
    first = ask_in_panel(bench, chat, "What is this class for?")
    args = first["params"]["arguments"][0]
    assert args["message"] == "What is this class for?" and args["history"] == []
    assert args["context"]["uri"].endswith("/stack.py")
    assert args["context"]["range"] == {"start": {"line": 0, "character": 0}, "end": {"line": 2, "character": 23}}
    answer = bench.tap.answer(first)
    assert answer["text"].strip() and "class Stack" in answer["message"]
    assert_streamed_and_shown(bench, chat, first, answer["text"])
    assert chat.locator(".msg.user .context").last.inner_text() == "with stack.py lines 1-3"
    bench.screenshot("chat-panel")
    # A follow-up about #file carries the conversation so far (the user turn as the model read it).
    second = ask_in_panel(bench, chat, "How do I add a pop method? #file")
    args = second["params"]["arguments"][0]
    assert args["message"] == "How do I add a pop method?"
    assert args["history"] == [{"role": "user", "content": answer["message"]}, {"role": "assistant", "content": answer["text"]}]
    assert args["context"]["range"] == {"start": {"line": 0, "character": 0}, "end": {"line": 3, "character": 0}}
    assert chat.locator(".msg.user .context").last.inner_text() == "with stack.py (whole file)"
    assert_streamed_and_shown(bench, chat, second, bench.tap.answer(second)["text"])
    # Hidden behind another editor and shown again when that one closes, the panel still has the conversation.
    chat.locator("#input").click()  # the panel's group becomes the active one
    bench.page.wait_for_function("() => document.activeElement && document.activeElement.tagName === 'IFRAME'")
    bench.page.wait_for_timeout(300)  # let the webview settle its focus, or it takes it back from the palette
    bench.run_command("File: New Untitled Text File")
    bench.page.locator(".tab.active", has_text="starassist Chat").wait_for(state="detached", timeout=10_000)
    bench.run_command("View: Revert and Close Editor")
    chat = chat_panel(bench)
    chat.locator(".msg").nth(3).wait_for(timeout=10_000)
    assert chat.locator(".msg").count() == 4
    # /reset empties the panel and the history; with no selection a question goes without code.
    chat.locator("#input").fill("/reset")
    chat.locator("#input").press("Enter")
    chat.locator(".msg").first.wait_for(state="detached", timeout=10_000)
    first_group(bench)
    bench.focus_editor()  # the click drops the selection
    third = ask_in_panel(bench, chat, "What is a <b>stack</b>?")
    args = third["params"]["arguments"][0]
    assert args["history"] == [] and "context" not in args
    # Text is shown as text, never parsed as HTML, and the page runs under a strict policy.
    assert chat.locator(".msg.user .body").last.inner_text() == "What is a <b>stack</b>?"
    assert chat.locator(".msg b, .msg script, .msg img").count() == 0
    policy = chat.locator("meta[http-equiv='Content-Security-Policy']").get_attribute("content")
    assert "default-src 'none'" in policy and re.search(r"script-src 'nonce-[^']+';", policy), policy


def test_chat_panel_explain_takes_the_function_at_the_cursor(bench: Workbench) -> None:
    first_group(bench)
    bench.open_file("shapes.py", "import math\n\n\ndef circle_area(r):\n    return math.pi * r ** 2\n\n\n"
                    "def square_area(side):\n    return side * side\n")
    page = bench.page
    page.keyboard.press("Control+G")
    page.keyboard.type("9")
    page.keyboard.press("Enter")
    chat = open_chat_panel(bench)
    asked = ask_in_panel(bench, chat, "/explain", command="starassist.explain")
    args = asked["params"]["arguments"][0]
    assert args["uri"].endswith("/shapes.py")
    assert args["range"] == {"start": {"line": 7, "character": 0}, "end": {"line": 8, "character": 22}}
    answer = bench.tap.answer(asked)
    assert isinstance(answer, str) and answer.strip()
    assert_streamed_and_shown(bench, chat, asked, answer)
    assert chat.locator(".msg.user .context").last.inner_text() == "with shapes.py lines 8-9"
    # `#selection` with nothing selected says so instead of asking the model.
    asked = len(bench.tap.requests("workspace/executeCommand"))
    chat.locator("#input").fill("Why? #selection")
    chat.locator("#input").press("Enter")
    chat.locator(".msg.note", has_text="Nothing is selected").wait_for(timeout=10_000)
    assert len(bench.tap.requests("workspace/executeCommand")) == asked


def test_chat_panel_stop_cancels_the_answer(bench: Workbench) -> None:
    set_setting(bench, "starassist.chat.max_tokens", 512)  # long enough to be stopped halfway
    chat = open_chat_panel(bench)
    chat.locator("#input").fill("Write a long story about a stack of plates.")
    chat.locator("#input").press("Enter")
    streaming = chat.locator(".msg.assistant[data-state=streaming] .body", has_text=re.compile(r"\S"))
    streaming.first.wait_for(timeout=180_000)  # the first pieces are in
    chat.locator("#stop").click()
    chat.locator(".msg.note[data-state=done]", has_text="Stopped.").wait_for(timeout=30_000)
    asked = [r for r in bench.tap.requests("workspace/executeCommand") if r["params"]["command"] == "starassist.chat"][-1]
    cancels = [n for n in bench.tap.notifications("$/cancelRequest") if n["params"]["id"] == asked["id"]]
    assert cancels, "Stop sent no $/cancelRequest"
    # The server stopped generating too: its worker is free again long before 512 tokens.
    replies: list[dict[str, typing.Any]] = []
    for _ in range(50):
        replies = [m for m in bench.tap.received() if m.get("id") == asked["id"] and "method" not in m]
        if replies:
            break
        bench.page.wait_for_timeout(200)
    assert replies, "the server did not answer the cancelled request"
    reply = replies[0]
    assert reply.get("error", {}).get("code") == -32800, reply  # RequestCancelled
    token = asked["params"]["arguments"][0]["token"]
    pieces = [n for n in bench.tap.notifications("starassist/text") if n["params"]["token"] == token]
    assert 0 < len(pieces) < 512
    assert chat.locator("#stop").is_hidden()


def test_chat_panel_modify_applies_only_on_accept_as_one_undo_step(bench: Workbench) -> None:
    set_setting(bench, "starassist.chat.max_tokens", 96)
    first_group(bench)
    original = "def perimeter(w, h):\n    return 2 * (w + h)\n"
    bench.open_file("perimeter.py", original)
    select_lines(bench, 1, 2)
    chat = open_chat_panel(bench)
    chat.locator("#input").fill("/modify add a docstring")
    chat.locator("#input").press("Enter")
    page = bench.page
    page.locator(".monaco-diff-editor").first.wait_for(timeout=180_000)
    toast = bench.notification("apply the proposed change", timeout=30)
    proposal = [r for r in bench.tap.requests("workspace/executeCommand") if r["params"]["command"] == "starassist.modify"][-1]
    args = proposal["params"]["arguments"][0]
    assert args["apply"] is False and args["instruction"] == "add a docstring"
    assert args["range"] == {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 22}}
    new_text = bench.tap.answer(proposal)["newText"]

    def changes() -> list[dict[str, typing.Any]]:
        return [n for n in bench.tap.notifications("textDocument/didChange")
                if n["params"]["textDocument"]["uri"].endswith("/perimeter.py")]

    assert changes() == [], "the file changed before Accept"
    assert not [m for m in bench.tap.received() if m.get("method") == "workspace/applyEdit"]
    bench.screenshot("chat-panel-modify")
    toast.locator(".monaco-button", has_text="Accept").first.click()
    page.locator(".monaco-diff-editor").first.wait_for(state="detached", timeout=10_000)
    page.locator(".tab.active[aria-label*='perimeter.py']").wait_for(timeout=10_000)
    for _ in range(50):
        changed = bench.editor_text()
        if changed.rstrip() != original.rstrip():
            break
        page.wait_for_timeout(200)
    assert squash(changed) == squash(new_text), (changed, new_text)
    assert changes(), "the accepted change did not reach the server"
    chat.locator(".msg.note[data-state=done]", has_text="Change applied").wait_for(timeout=10_000)
    bench.focus_editor()
    page.keyboard.press("Control+Z")  # one undo step takes the whole change back
    page.wait_for_timeout(300)
    assert bench.editor_text().rstrip() == original.rstrip()


def test_local_model_is_offered_as_a_vscode_language_model(bench: Workbench) -> None:
    """`vscode.lm.registerLanguageModelChatProvider` (stable in 1.139): VS Code lists the local model with the
    context size the provider reports. (Its chat view's model picker still offers only a Copilot sign-in.)"""
    bench.run_command("Chat: Manage Language Models")
    row = bench.page.locator(".monaco-list-row, tr", has_text="starassist (local)").first
    row.wait_for(timeout=20_000)
    assert "4K" in row.inner_text()  # maxInputTokens from starassist.model.context_length (4096)
    bench.page.keyboard.press("Escape")
    row.wait_for(state="detached", timeout=10_000)
