"""Run Schemathesis (all checks) against a live server; shared by the test and the benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "schemathesis.toml"
SELF_REVOKING = "^/api/v1/keys/|^/api/v1/auth/logout$"
"""Operations that revoke the credential they are called with (an API key's DELETE, logout).

They get their own pass with a throwaway key, so the main pass keeps a working credential."""

GENEROUS_ENV = {
    "MOMENTS_RATE_LIMIT_UPLOAD": "100000/hour",
    "MOMENTS_RATE_LIMIT_POLL": "1000000/minute",
    "MOMENTS_RATE_LIMIT_AUTH": "100000/minute",
    "MOMENTS_FREE_REELS_PER_MONTH": "1000000",
}
"""Rate limits and quota far above what fuzzing or load sends (a 429 would hide the answer)."""


@dataclass
class FuzzResult:
    cases: int
    failures: int
    errors: int
    operations: int
    returncode: int
    output: str


def run_schemathesis(
    base_url: str,
    token: str,
    report_dir: Path,
    *,
    max_examples: int = 20,
    include: str | None = None,
    exclude: str | None = None,
) -> FuzzResult:
    """One ``schemathesis run`` with every check; counts come from its output and JUnit report."""
    report_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
        f"{base_url}/openapi.json", "--checks", "all", "--max-examples", str(max_examples),
        "-H", f"Authorization: Bearer {token}", "--workers", "1", "--seed", "7",
        "--request-timeout", "30", "--report", "junit", "--report-dir", str(report_dir),
    ]  # fmt: skip
    if include:
        command += ["--include-path-regex", include]
    if exclude:
        command += ["--exclude-path-regex", exclude]
    root = str(HERE.parents[1])
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.hardening.st_hooks", "PYTHONPATH": root}
    # Run from the report folder: Schemathesis keeps a .schemathesis cache in its working dir.
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=600, cwd=report_dir
    )
    output = done.stdout + done.stderr
    suite = _latest_report(report_dir)
    return FuzzResult(
        cases=_generated_cases(output),
        failures=int(suite.get("failures", -1)) if suite is not None else -1,
        errors=int(suite.get("errors", -1)) if suite is not None else -1,
        operations=int(suite.get("tests", 0)) if suite is not None else 0,
        returncode=done.returncode,
        output=output,
    )


def new_api_key(base_url: str, token: str) -> str:
    """A throwaway API key for the self-revoking pass."""
    response = httpx.post(
        f"{base_url}/api/v1/keys",
        json={"name": "fuzz"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["key"]


def _latest_report(folder: Path) -> ET.Element | None:
    reports = sorted(folder.glob("junit-*.xml"), key=lambda p: p.stat().st_mtime)
    if not reports:
        return None
    return ET.parse(reports[-1]).getroot()


def _generated_cases(output: str) -> int:
    """'1133 generated, 1133 passed, ...' from the summary (0 if absent)."""
    for line in output.splitlines():
        words = line.strip().split()
        if len(words) > 1 and words[1].rstrip(",") == "generated" and words[0].isdigit():
            return int(words[0])
    return 0
