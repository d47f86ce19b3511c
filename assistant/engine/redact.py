"""Redact secrets and PII from text before it leaves the machine, and put the originals back afterwards.

Pure functions over a rule table (data, not branches). One `Redactor` per remote session keeps the mapping
original <-> placeholder, so the same secret always gets the same placeholder (`<SECRET_1>`) across the
current document, other open files and chat history, and a completion that echoes a placeholder is restored
locally before the user sees it. Nothing here does I/O.

The same placeholders escape *marker text* in the user's code (`EOS = "<|endoftext|>"`): a server tokenizes
a prompt's text with special tokens parsed, so that text sent as it is would reach the model as a control token.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rule:
    name: str  # what was found, for `starassist redact`
    kind: str  # placeholder kind: SECRET, EMAIL, IP_ADDRESS
    pattern: str
    group: int = 0  # the part of the match that is replaced (the value, not `password=`)
    check: str = ""  # a test the value must also pass (see CHECKS): shapes alone would catch ordinary code


# Ordered: specific token shapes first, so a GitHub token is not reported as "high-entropy string".
RULES: tuple[Rule, ...] = (
    Rule("private key block", "SECRET",
         r"-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----[A-Za-z0-9+/=:,\-\s\\]*?-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----"),
    # A window, a snippet or the cursor may cut a key block: each half goes on its own, but only where the
    # header is followed (or the footer preceded) by lines of key material: code that tests for the header
    # (`startswith("-----BEGIN RSA PRIVATE KEY-----")`) is not a key.
    Rule("private key block (start)", "SECRET",
         r"-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----(?:[ \t]*(?:\r?\n|\\n)[ \t]*[A-Za-z0-9+/=:,\-]*)+\Z"),
    Rule("private key block (end)", "SECRET",
         r"\A(?:[ \t]*[A-Za-z0-9+/=:,\-]*[ \t]*(?:\r?\n|\\n))+[ \t]*-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----"),
    Rule("AWS access key id", "SECRET", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA)[0-9A-Z]{16}\b"),
    Rule("GitHub token", "SECRET", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    Rule("GitLab token", "SECRET", r"\bglpat-[A-Za-z0-9_\-]{20,}\b"),
    Rule("Slack token", "SECRET", r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),
    Rule("Slack webhook", "SECRET", r"https://hooks\.slack\.com/services/[A-Za-z0-9/_]+"),
    Rule("Stripe key", "SECRET", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b"),
    Rule("Google API key", "SECRET", r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    Rule("OpenAI key", "SECRET", r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}\b"),
    Rule("Hugging Face token", "SECRET", r"\bhf_[A-Za-z0-9]{30,}\b"),
    Rule("JWT", "SECRET", r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    Rule("connection string credentials", "SECRET",
         r"\b[a-z][a-z0-9+.\-]*://[^\s:/@'\"]+:([^\s@/'\"]+)@[^\s'\"]+", group=1),
    Rule("password assignment", "SECRET",
         r"(?i)\b[\w.\-]*(?:password|passwd|pwd|secret)[\w.\-]*"
         # an optional type annotation: `password: str = "..."`
         r"[\"']?\s*(?::\s*[A-Za-z_][\w\[\]., |]*?\s*(?==))?(?::=|=>|=|:)\s*[\"']([^\"'\s]{4,})[\"']", group=1,
         check="not_template"),
    # "token" and "key" name many ordinary things (tokenizers, dictionary keys): their values must not be words.
    Rule("token assignment", "SECRET",
         r"(?i)\b[\w.\-]*(?:api_?key|access_?key|auth_?token|token)[\w.\-]*"
         r"[\"']?\s*(?::\s*[A-Za-z_][\w\[\]., |]*?\s*(?==))?(?::=|=>|=|:)\s*[\"']([^\"'\s]{4,})[\"']", group=1,
         check="credential"),
    Rule("password assignment (unquoted)", "SECRET",
         r"(?m)^\s*(?:export\s+)?[A-Z0-9_.\-]*(?:PASSWORD|PASSWD|SECRET|API_?KEY|TOKEN)[\w.\-]*\s*=\s*"
         # not a dotted name (`ERRORTOKEN = token.ERRORTOKEN` is code, not a secret)
         r"(?![A-Za-z_]\w*(?:\.\w+)+\s*$|\d+\s*$|(?:None|True|False|null|true|false)\s*$)([^\s\"'#(]{4,})\s*$",
         group=1),
    # YAML / .properties / INI: `password: hunter2!`, `db.password=s3cret`. A value of letters only (a type, a
    # name: `token: Token`) or of digits only (a limit) is not taken for a secret.
    Rule("password assignment (unquoted, any case)", "SECRET",
         r"(?im)^\s*[\w.\-]*(?:password|passwd|pwd|secret|api_?key|auth_?token|token)[\w.\-]*\s*[:=]\s*"
         r"([^\s\"'#\[\](){},;]{4,})\s*$", group=1, check="not_word"),
    Rule("email address", "EMAIL", r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b"),
    Rule("IPv4 address", "IP_ADDRESS",
         r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w.])"),
    Rule("IPv6 address", "IP_ADDRESS", r"(?<![\w:])(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}(?![\w:])"),
    Rule("high-entropy string in an assignment", "SECRET",
         r"(?:=|:)\s*[\"']([A-Za-z0-9+/_\-]{24,}={0,2})[\"']", group=1, check="random"),
)

# Addresses every program contains; redacting them would only confuse the model.
ALWAYS_ALLOWED = frozenset({"127.0.0.1", "0.0.0.0", "255.255.255.255", "255.255.255.0"})
# Loopback, netmasks (0.x, 255.x) and the ranges reserved for documentation (RFC 5737, RFC 3849) identify no one.
_ALLOWED_IP = re.compile(r"(?:127|0|255)\.\d+\.\d+\.\d+|192\.0\.2\.\d+|198\.51\.100\.\d+|203\.0\.113\.\d+|2001:0?db8:.*",
                         re.IGNORECASE)
KINDS = ("SECRET", "EMAIL", "IP_ADDRESS", "MARKER")
_PLACEHOLDER = re.compile(rf"<({'|'.join(KINDS)})_(\d+)>")
_COMPILED = tuple((rule, re.compile(rule.pattern)) for rule in RULES)


# Control-token text that servers parse as special where they meet it in a prompt: the StarCoder vocabulary's
# (ids 0-18) and SantaCoder's, and the shapes chat and FIM vocabularies use (`<|im_end|>`, `<|fim_prefix|>`,
# DeepSeek's `<｜fim▁hole｜>`). A model's own FIM markers are added by whoever knows the model.
SERVER_MARKERS = (
    "<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<filename>", "<gh_stars>",
    "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>", "<jupyter_text>", "<jupyter_code>",
    "<jupyter_output>", "<empty_output>", "<commit_before>", "<commit_msg>", "<commit_after>", "<reponame>",
    "<repo_name>", "<file_sep>", "<fim-prefix>", "<fim-middle>", "<fim-suffix>", "<fim-pad>",
)
_MARKER_SHAPES = (r"<\|[^\s|<>]{1,40}\|>", r"<｜[^\s｜<>]{1,40}｜>")


MARKER_RULE = "marker text"  # the `Finding.rule` of an escaped marker (not a hidden value)


def marker_pattern(extra: Iterable[str] = ()) -> re.Pattern[str]:
    """What `Redactor(markers=...)` escapes: the known marker texts, `extra` ones (a model's special tokens; the
    SentencePiece word mark `▁` of Code Llama's is not in the text), and the shapes of chat markers."""
    texts = sorted({t.lstrip("▁") for t in (*SERVER_MARKERS, *extra) if t.lstrip("▁")}, key=len, reverse=True)
    return re.compile("|".join([*map(re.escape, texts), *_MARKER_SHAPES]))


def allow_list(text: str) -> frozenset[str]:
    """`remote.allow` (comma-separated values the user chose to send as they are) as a set."""
    return frozenset(item.strip() for item in text.split(",") if item.strip())


def partial_placeholder(text: str) -> int:
    """How many trailing characters may be the start of a placeholder still being streamed."""
    start = text.rfind("<", max(0, len(text) - 16))
    if start == -1:
        return 0
    tail = text[start:]
    for kind in KINDS:
        head = f"<{kind}_"
        if head.startswith(tail) or (tail.startswith(head) and tail[len(head):].isdigit()):
            return len(tail)
    return 0


def shannon_entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_random(value: str) -> bool:
    # Identifiers and paths (snake_case, CamelCase words) stay; keys mix classes and have high entropy.
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
    # No digit at all: words, CamelCase and paths (`workspace/didChangeWatchedFiles`); 24 random base64
    # characters hold a digit but for 1 time in 150.
    if classes < 2 or shannon_entropy(value) < 4.0 or not re.search(r"\d", value):
        return False
    parts = re.split(r"[-_]", value)
    if len(parts) >= 3 and all(len(p) <= 10 for p in parts):  # a slug: cpython-311-x86_64-linux-gnu
        return False
    return not _counts_up(value)


def _counts_up(value: str, run: int = 6) -> bool:
    """An alphabet written out (abcdefgh..., 0123456...), as in a table of allowed characters."""
    steps = 0
    for a, b in zip(value, value[1:], strict=False):
        steps = steps + 1 if ord(b) == ord(a) + 1 else 0
        if steps >= run - 1:
            return True
    return False


def _not_word(value: str) -> bool:
    # A word, a dotted key or a slug (`comment`, `tokenizer.ggml.model`, `bool:`) names something, digits alone
    # are a number; a credential mixes digits or symbols with letters.
    if "{" in value or value.endswith(":") or value.isdigit():
        return False
    return not re.fullmatch(r"[A-Za-z_.\-/]+", value)


def _credential(value: str) -> bool:
    # API keys and tokens are long; `"gpt2"`, `"[PAD]"`, `"<unk>"` are names of models and vocabulary tokens.
    return len(value) >= 8 and not re.search(r"[\[\]<>]", value) and _not_word(value)


def _not_template(value: str) -> bool:
    # `password = "{password}"`, `"${DB_PASSWORD}"`, `"%s"`, `"<your password>"` are slots, not values.
    return not re.search(r"[{}%<>$]", value)


CHECKS = {"": lambda v: True, "random": _looks_random, "not_word": _not_word, "credential": _credential,
          "not_template": _not_template}


@dataclass(frozen=True)
class Finding:
    rule: str
    start: int
    end: int
    original: str
    placeholder: str


@dataclass
class Redactor:
    """Stable placeholders for one session; `allow` holds strings the user chose to send as they are. `secrets`
    off leaves the rule table out (the user's choice); `markers` (see `marker_pattern`) are escaped either way."""

    allow: frozenset[str] = frozenset()
    secrets: bool = True
    markers: re.Pattern[str] | None = None
    _by_original: dict[str, str] = field(default_factory=dict)
    _by_placeholder: dict[str, str] = field(default_factory=dict)
    _counts: Counter = field(default_factory=Counter)

    def _placeholder(self, kind: str, original: str) -> str:
        if original not in self._by_original:
            self._counts[kind] += 1
            placeholder = f"<{kind}_{self._counts[kind]}>"
            self._by_original[original] = placeholder
            self._by_placeholder[placeholder] = original
        return self._by_original[original]

    def find(self, text: str) -> list[Finding]:
        taken: list[tuple[int, int]] = []
        findings: list[Finding] = []
        for rule, regex in _COMPILED if self.secrets else ():
            for match in regex.finditer(text):
                start, end = match.span(rule.group)
                value = match.group(rule.group)
                if value in self.allow or value in ALWAYS_ALLOWED or _PLACEHOLDER.fullmatch(value):
                    continue
                if not CHECKS[rule.check](value):
                    continue
                if rule.kind == "IP_ADDRESS" and _ALLOWED_IP.fullmatch(value):
                    continue
                if any(start < e and s < end for s, e in taken):
                    continue
                taken.append((start, end))
                findings.append(Finding(rule.name, start, end, value, self._placeholder(rule.kind, value)))
        # After the secrets, so that marker text inside a secret cannot cut it into halves that pass unnoticed.
        for match in self.markers.finditer(text) if self.markers is not None else ():
            start, end = match.span()
            if not any(start < e and s < end for s, e in taken):
                value = match.group()
                findings.append(Finding(MARKER_RULE, start, end, value, self._placeholder("MARKER", value)))
        return sorted(findings, key=lambda f: f.start)

    def redact(self, text: str) -> str:
        out, pos = [], 0
        for f in self.find(text):
            out += [text[pos : f.start], f.placeholder]
            pos = f.end
        return "".join(out) + text[pos:]

    def redact_at(self, text: str, offset: int) -> tuple[str, int]:
        """`redact(text)` and where `offset` lands in it. A cursor inside a secret moves behind its placeholder:
        the halves on either side of a cursor would not look like a secret on their own."""
        out, pos, new_offset = [], 0, None
        for f in self.find(text):
            if new_offset is None and offset < f.end:
                new_offset = sum(map(len, out)) + (offset - pos if offset <= f.start else f.start - pos + len(f.placeholder))
            out += [text[pos : f.start], f.placeholder]
            pos = f.end
        if new_offset is None:
            new_offset = sum(map(len, out)) + offset - pos
        return "".join(out) + text[pos:], new_offset

    def restore(self, text: str) -> str:
        """Put originals back into text that came from the server; unknown placeholders are left alone."""
        return _PLACEHOLDER.sub(lambda m: self._by_placeholder.get(m.group(0), m.group(0)), text)
