"""The project's promises about itself."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers import clean_env

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_opens_with_run_and_test_commands() -> None:
    run, test = _readme_commands()[:2]
    assert run.endswith("interactive up")
    assert "pytest" in test and "mypy" in test and "ruff check" in test


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert _readme_commands()[1] in ci


def test_plotly_is_served_locally(client: object) -> None:
    response = client.get("/static/vendor/plotly.min.js")  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert b"plotly" in response.data[:2000].lower()
    assert "max-age" in response.headers["Cache-Control"]


def test_pages_reference_no_other_host(client: object) -> None:
    page = client.get("/login").get_data(as_text=True)  # type: ignore[attr-defined]
    assert not re.search(r"""(src|href)=["']https?://""", page)


def test_wsgi_module_builds_the_app(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = clean_env()
    env["INTERACTIVE_INSTANCE_PATH"] = str(tmp_path)
    ok = subprocess.run(
        [sys.executable, "-c", "import wsgi; print(wsgi.app.name)"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.stdout.strip() == "interactive.app", ok.stderr
    env["INTERACTIVE_ENV"] = "production"
    bad = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("interactive: configuration error: INTERACTIVE_SECRET_KEY")
