"""The curl tour of docs/api.md, run exactly as written against a real `headwater serve`
on the examples project: every ```bash block of the section, in order, in one bash.
Only the base URL the doc sets (`HW=http://127.0.0.1:8080`) is replaced by the test
server's address, as the doc tells readers to do for theirs."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .api_server import serving
from .conftest import clean_env

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
SECTION = "## A short tour with curl"
DOC_BASE_URL = "HW=http://127.0.0.1:8080"


def tour_script() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```bash\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert blocks, f"no ```bash blocks under {SECTION!r} in {DOC}"
    script = "\n".join(blocks)
    assert script.count(DOC_BASE_URL) == 1, f"the tour sets {DOC_BASE_URL} once"
    return script


@pytest.fixture
def server(examples: Path, database_url: str) -> Iterator[str]:
    with serving(examples, database_url) as url:
        yield url


def test_the_tour_runs_as_written(server: str, tmp_path: Path) -> None:
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            pytest.skip(f"the tour needs {tool}")
    script = tour_script().replace(DOC_BASE_URL, f"HW={server}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, f"exit {result.returncode}\n{out}\n{result.stderr}"
    assert "orders_report" in out  # listed
    assert "succeeded" in out  # polled until it ended
    assert "clean file has" in out  # followed the command's log
    assert "event: end" in out  # the follow ended with the attempt
    downloaded = tmp_path / "output.json"
    assert downloaded.exists(), out
    assert '"lines"' in downloaded.read_text()
