"""``interactive users …`` from the shell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from interactive import migrate
from tests.helpers import clean_env
from tests.test_migrations import scratch_url  # noqa: F401 (fixture)


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "interactive", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_users_create_list_and_set_password(scratch_url: str, tmp_path: Path) -> None:  # noqa: F811
    migrate.upgrade(scratch_url)
    env = clean_env()
    env.update(
        INTERACTIVE_DATABASE_URL=scratch_url,
        INTERACTIVE_INSTANCE_PATH=str(tmp_path),
        INTERACTIVE_LOG_LEVEL="warning",
    )
    created = _run(env, "users", "create", "--email", "Boss@Example.com", "--role", "admin")
    assert created.returncode == 0, created.stderr
    assert "created admin boss@example.com" in created.stdout
    password = created.stdout.split("password: ", 1)[1].strip()
    assert len(password) >= 10

    again = _run(env, "users", "create", "--email", "boss@example.com")
    assert again.returncode == 1
    assert "email taken" in again.stderr

    desk = _run(
        env,
        "users",
        "create",
        "--email",
        "desk@example.com",
        "--role",
        "desk",
        "--password",
        "desk password 1",
    )
    assert desk.returncode == 0
    assert "password:" not in desk.stdout

    listing = _run(env, "users", "list").stdout.splitlines()
    assert [line.split("\t")[1:3] for line in listing] == [
        ["boss@example.com", "admin"],
        ["desk@example.com", "desk"],
    ]
    reset = _run(env, "users", "set-password", "desk@example.com", "--password", "short")
    assert reset.returncode == 1
    assert "password too short" in reset.stderr
    missing = _run(env, "users", "set-password", "nobody@example.com")
    assert missing.returncode == 1


def test_rollups_rebuild(scratch_url: str, tmp_path: Path) -> None:  # noqa: F811
    migrate.upgrade(scratch_url)
    env = clean_env()
    env.update(
        INTERACTIVE_DATABASE_URL=scratch_url,
        INTERACTIVE_INSTANCE_PATH=str(tmp_path),
        INTERACTIVE_LOG_LEVEL="warning",
    )
    rebuilt = _run(env, "rollups", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.startswith("rebuilt 0 campaigns and 0 standalone links in ")


def test_a_long_running_process_freezes_its_startup_heap_and_collects_less_often() -> None:
    code = (
        "import gc\n"
        "from interactive.heap import GC_YOUNG_THRESHOLD, freeze_startup_heap\n"
        "default = gc.get_threshold()\n"
        "freeze_startup_heap()\n"
        "assert gc.get_freeze_count() > 0\n"
        "assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *default[1:]), gc.get_threshold()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
