"""Regenerate the README's generated parts from the code (`--check` only compares).

Each `<!-- help:CMD -->` ... `<!-- /help -->` block in README.md is replaced by the output of
`artwork-backfill CMD --help` (CMD `main` = the top-level help), rendered 100 columns wide;
`<!-- gen:reasons -->` and `<!-- gen:thresholds -->` blocks by the scorer's reason codes and
threshold defaults.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- help:(?P<cmd>[\w-]+) -->\n)(?P<body>.*?)(<!-- /help -->)", re.S)
GEN = re.compile(r"(<!-- gen:(?P<what>\w+) -->\n)(?P<body>.*?)(<!-- /gen -->)", re.S)


def generated(what: str) -> str:
    sys.path.insert(0, str(README.parent))
    import dataclasses

    from artwork_backfill.judge.reasons import REASONS
    from artwork_backfill.judge.thresholds import DEFAULT_THRESHOLDS

    if what == "reasons":
        rows = [f"| `{code}` | {text.replace('|', '/')} |" for code, text in REASONS.items()]
        return "| code | meaning |\n|---|---|\n" + "\n".join(rows)
    if what == "thresholds":
        rows = [f"| `{k}` | {v:g} |" for k, v in dataclasses.asdict(DEFAULT_THRESHOLDS).items()]
        return "| name | default |\n|---|---|\n" + "\n".join(rows)
    raise ValueError(f"unknown generated block {what!r}")


def help_text(command: str) -> str:
    args = ["--help"] if command == "main" else [command, "--help"]
    env = {**os.environ, "COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1"}
    for secret in ("DB_PASSWORD", "LML_API_KEY", "DATABASE_URL"):
        env.pop(secret, None)
    out = subprocess.run(
        [sys.executable, "-m", "artwork_backfill", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return "\n".join(line.rstrip() for line in out.strip().splitlines())


def render(text: str) -> str:
    def block(match: re.Match[str]) -> str:
        body = help_text(match["cmd"])
        return f"{match.group(1)}```text\n{body}\n```\n{match.group(4)}"

    def gen(match: re.Match[str]) -> str:
        return f"{match.group(1)}{generated(match['what'])}\n{match.group(4)}"

    return GEN.sub(gen, BLOCK.sub(block, text))


def main() -> int:
    current = README.read_text()
    fresh = render(current)
    if "--check" in sys.argv:
        if fresh != current:
            print("README.md's command reference is out of date: run python scripts/readme_help.py")
            return 1
        return 0
    README.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
