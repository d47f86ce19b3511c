"""Redact secrets and PII from text before it leaves the machine, and put the originals back afterwards.

Pure functions over a rule table (data, not branches). One `Redactor` per remote session keeps the mapping
original <-> placeholder, so the same secret always gets the same placeholder (`<SECRET_1>`) across the
current document, other open files and chat history, and a completion that echoes a placeholder is restored
locally before the user sees it. Nothing here does I/O.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rule:
    name: str  # what was found, for `starassist redact`
    kind: str  # placeholder kind: SECRET, EMAIL, IP_ADDRESS
    pattern: str
    group: int = 0  # the part of the match that is replaced (the value, not `password=`)


# Ordered: specific token shapes first, so a GitHub token is not reported as "high-entropy string".
RULES: tuple[Rule, ...] = (
    Rule("private key block", "SECRET",
         r"-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----"),
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
         r"(?i)\b[\w.\-]*(?:password|passwd|pwd|secret|api_?key|access_?key|auth_?token|token)[\w.\-]*"
         r"[\"']?\s*(?::=|=>|=|:)\s*[\"']([^\"'\s]{4,})[\"']", group=1),
    Rule("password assignment (unquoted)", "SECRET",
         r"(?m)^\s*(?:export\s+)?[A-Z0-9_.\-]*(?:PASSWORD|PASSWD|SECRET|API_?KEY|TOKEN)[\w.\-]*\s*=\s*"
         # not a dotted name (`ERRORTOKEN = token.ERRORTOKEN` is code, not a secret)
         r"(?![A-Za-z_]\w*(?:\.\w+)+\s*$)([^\s\"'#]{4,})\s*$", group=1),
    Rule("email address", "EMAIL", r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b"),
    Rule("IPv4 address", "IP_ADDRESS",
         r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w.])"),
    Rule("IPv6 address", "IP_ADDRESS", r"(?<![\w:])(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}(?![\w:])"),
    Rule("high-entropy string in an assignment", "SECRET",
         r"(?:=|:)\s*[\"']([A-Za-z0-9+/_\-]{24,}={0,2})[\"']", group=1),
)

# Addresses every program contains; redacting them would only confuse the model.
ALWAYS_ALLOWED = frozenset({"127.0.0.1", "0.0.0.0", "255.255.255.255", "255.255.255.0"})
_PLACEHOLDER = re.compile(r"<(SECRET|EMAIL|IP_ADDRESS)_(\d+)>")
_COMPILED = tuple((rule, re.compile(rule.pattern)) for rule in RULES)


def shannon_entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_random(value: str) -> bool:
    # Identifiers and paths (snake_case, CamelCase words) stay; keys mix classes and have high entropy.
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
    return classes >= 2 and shannon_entropy(value) >= 4.0 and not re.fullmatch(r"[A-Za-z_]+", value)


@dataclass(frozen=True)
class Finding:
    rule: str
    start: int
    end: int
    original: str
    placeholder: str


@dataclass
class Redactor:
    """Stable placeholders for one session; `allow` holds strings the user chose to send as they are."""

    allow: frozenset[str] = frozenset()
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
        for rule, regex in _COMPILED:
            for match in regex.finditer(text):
                start, end = match.span(rule.group)
                value = match.group(rule.group)
                if value in self.allow or value in ALWAYS_ALLOWED or _PLACEHOLDER.fullmatch(value):
                    continue
                if rule.name.startswith("high-entropy") and not _looks_random(value):
                    continue
                if any(start < e and s < end for s, e in taken):
                    continue
                taken.append((start, end))
                findings.append(Finding(rule.name, start, end, value, self._placeholder(rule.kind, value)))
        return sorted(findings, key=lambda f: f.start)

    def redact(self, text: str) -> str:
        out, pos = [], 0
        for f in self.find(text):
            out += [text[pos : f.start], f.placeholder]
            pos = f.end
        return "".join(out) + text[pos:]

    def restore(self, text: str) -> str:
        """Put originals back into text that came from the server; unknown placeholders are left alone."""
        return _PLACEHOLDER.sub(lambda m: self._by_placeholder.get(m.group(0), m.group(0)), text)
