"""``trade-console`` with no subcommand: a bad database is one line and exit 2 before anything is
drawn, a missing folder is created, and the dashboard runs in a real terminal and quits on q."""

from __future__ import annotations

import asyncio
import logging
import os
import pty
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from console_seed import config_for, desk_records, wait_for, write_records

from console.app import TradeConsoleApp
from console.cli import EXIT_BAD_INPUT, main
from console.logs import LOG_FILE, log_to_file
from core.config import AppConfig

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, database: Path | str) -> Path:
    path = tmp_path / "console.toml"
    path.write_text(
        f'[oms]\ndatabase = "{database}"\n[logging]\ndirectory = "{tmp_path / "logs"}"\n'
    )
    return path


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_a_database_folder_that_cannot_be_made_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    config = write_config(tmp_path, blocker / "oms.sqlite")
    assert main(["--config", str(config)]) == EXIT_BAD_INPUT
    line = one_line_error(capsys)
    assert line.startswith("trade-console: ")
    assert "cannot create the OMS database folder" in line
    assert blocker.read_text() == "a file where the folder should be"


def test_a_database_of_a_newer_schema_is_refused_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "oms.sqlite"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE future (x)")
        connection.execute("PRAGMA user_version = 99")
    before = database.read_bytes()
    assert main(["--config", str(write_config(tmp_path, database))]) == EXIT_BAD_INPUT
    assert "newer version of trade-console" in one_line_error(capsys)
    assert database.read_bytes() == before


def test_a_corrupt_database_is_refused_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "oms.sqlite"
    database.write_bytes(b"this is not a database, it only has its name" * 100)
    before = database.read_bytes()
    assert main(["--config", str(write_config(tmp_path, database))]) == EXIT_BAD_INPUT
    assert "not a readable OMS database" in one_line_error(capsys)
    assert database.read_bytes() == before


def test_a_bad_config_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "console.toml"
    config.write_text('[console]\ntheme = "neon"\n')
    assert main(["--config", str(config)]) == EXIT_BAD_INPUT
    assert "console.theme" in one_line_error(capsys)


async def test_the_app_creates_a_missing_database_folder(tmp_path: Path) -> None:
    database = tmp_path / "new" / "folder" / "oms.sqlite"
    app = TradeConsoleApp(config_for(database))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.health is not None)
        assert app.screen is app.dashboard
    assert database.is_file()


async def test_the_app_exits_2_with_the_oms_message_when_it_cannot_open(tmp_path: Path) -> None:
    database = tmp_path / "oms.sqlite"
    database.write_bytes(b"garbage" * 1000)
    app = TradeConsoleApp(config_for(database))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
    assert app.return_code == EXIT_BAD_INPUT
    assert app.dashboard is None


def test_logging_goes_to_the_log_file_not_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        config = AppConfig()
        config = type(config)(logging=type(config.logging)(directory=str(tmp_path / "logs")))
        path = log_to_file(config)
        logging.getLogger("console.test").warning("the OMS is slow")
        for handler in root.handlers:
            handler.flush()
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
    assert path == tmp_path / "logs" / LOG_FILE
    assert "WARNING console.test: the OMS is slow" in path.read_text()
    assert capsys.readouterr().err == ""


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{needle!r} not drawn within {timeout} s: {seen[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
    return seen


def _read_until_exit(fd: int, process: subprocess.Popen[bytes], timeout: float) -> int:
    """Keep reading the terminal, as a terminal does, until ``process`` exits; its code.

    A terminal nobody reads fills up and blocks the program's next write (the frames it draws
    while quitting included), so a test that stopped reading would hang the console it waits
    for."""
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"still running {timeout} s after the key")
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.1))
        if ready:
            try:
                os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
    return process.wait(timeout=max(deadline - time.monotonic(), 0.1))


def test_the_dashboard_runs_in_a_terminal_and_quits_on_q(tmp_path: Path) -> None:
    database = tmp_path / "oms.sqlite"
    asyncio.run(write_records(database, desk_records()))
    config = write_config(tmp_path, database)
    main_fd, child_fd = pty.openpty()
    environment = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    process = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "--config", str(config)],
        cwd=ROOT,
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        env=environment,
        start_new_session=True,
    )
    os.close(child_fd)
    try:
        drawn = _read_until(main_fd, b"Positions", timeout=20)
        assert b"Traceback" not in drawn
        os.write(main_fd, b"q")
        assert _read_until_exit(main_fd, process, timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main_fd)
    assert "Traceback" not in (tmp_path / "logs" / LOG_FILE).read_text()


@pytest.mark.parametrize(("setting", "expected"), [(None, "120"), ("30", "30")])
def test_the_console_draws_at_120_frames_a_second_unless_the_environment_says(
    setting: str | None, expected: str
) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "TEXTUAL_FPS"}
    if setting is not None:
        environment["TEXTUAL_FPS"] = setting
    code = "import console.cli, textual.constants as c; print(c.MAX_FPS)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == expected
