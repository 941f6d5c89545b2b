"""``trade-console notify --test``: a test message to every channel, one line each, recorded."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from webhook_server import HangingServer, WebhookServer

from console.cli import EXIT_BAD_INPUT, main
from core.oms import OmsStore


def write_config(tmp_path: Path, *urls: str, database: Path | None = None) -> Path:
    path = tmp_path / "config.toml"
    database = database or tmp_path / "oms.sqlite"
    path.write_text(
        f'[oms]\ndatabase = "{database}"\n'
        f"[notify]\nurls = {json.dumps(list(urls))}\n"
        'desk = "DESK-A"\ntimeout_secs = 2\n'
        f'[logging]\ndirectory = "{tmp_path / "logs"}"\n'
    )
    return path


async def test_every_channel_gets_the_test_message_and_the_oms_records_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_PW", "pa55word")
    async with await OmsStore.open(tmp_path / "oms.sqlite"):
        pass  # the node's OMS exists
    with WebhookServer() as first, WebhookServer() as second:
        config = write_config(tmp_path, first.url(auth="ops:${HOOK_PW}@"), second.url())
        code = await asyncio.to_thread(main, ["notify", "--test", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert first.titles() == second.titles() == ["DESK-A: test message"]
    lines = out.splitlines()
    assert lines[0].startswith(f"sent    json://ops:****@127.0.0.1:{first.port}/hook (")
    assert lines[1].startswith(f"sent    json://127.0.0.1:{second.port}/hook (")
    assert "pa55word" not in out
    async with await OmsStore.open(tmp_path / "oms.sqlite", read_only=True) as store:
        rows = await store.notifications()
    assert sorted((r.kind, r.status) for r in rows) == [("test", "sent"), ("test", "sent")]


async def test_a_channel_that_does_not_answer_is_failed_in_its_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with HangingServer() as hanging, WebhookServer() as hook:
        config = write_config(tmp_path, hanging.url(), hook.url())
        code = await asyncio.to_thread(main, ["notify", "--test", "--config", str(config)])
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert captured.err == ""  # apprise's warnings went to the log file
    assert code == 1
    assert lines[0].startswith(f"FAILED  json://127.0.0.1:{hanging.port}/hook: ")
    assert lines[1].startswith("sent    ")
    assert lines[2] == f"(not recorded: no OMS at {tmp_path / 'oms.sqlite'})"


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        ((), "notify.urls: no channel configured"),
        (("json://u:${NOT_SET_ANYWHERE}@h/x",), "notify.urls.0: ${NOT_SET_ANYWHERE} is not set"),
        (("bogus://token@x",), "notify.urls.0: 'bogus://...' is not a URL apprise"),
    ],
    ids=["no-channel", "variable-not-set", "unknown-scheme"],
)
def test_a_bad_channel_list_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], urls: tuple[str, ...], message: str
) -> None:
    config = write_config(tmp_path, *urls)
    assert main(["notify", "--test", "--config", str(config)]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert message in line and "token" not in line
