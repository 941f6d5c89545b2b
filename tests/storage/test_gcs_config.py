"""How GCS is reached: the emulator from the environment or the config (environment first), a
service-account file, anonymous access; and the one-line refusals of bad [gcs]/[uploads]."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import ConfigError, GcsConfig, load_config, use_gcs_config
from core.storage.gcs import (
    ANONYMOUS_VARIABLE,
    CREDENTIALS_VARIABLE,
    EMULATOR_VARIABLE,
    TIMEOUT_VARIABLE,
    gcs_options,
)


@pytest.fixture(autouse=True)
def clean_environment() -> Iterator[None]:
    # use_gcs_config writes os.environ itself: put every variable back as it was.
    names = (EMULATOR_VARIABLE, CREDENTIALS_VARIABLE, ANONYMOUS_VARIABLE, TIMEOUT_VARIABLE)
    before = {name: os.environ.pop(name, None) for name in names}
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def test_without_settings_gcsfs_looks_for_google_credentials_itself() -> None:
    options = gcs_options()
    assert "token" not in options and "endpoint_url" not in options
    assert options["cache_timeout"] == 0  # listings never stale: the uploads verify by them


def test_the_environment_s_emulator_wins_over_the_config_s(monkeypatch) -> None:
    monkeypatch.setenv(EMULATOR_VARIABLE, "127.0.0.1:9999")
    use_gcs_config(GcsConfig(endpoint="http://127.0.0.1:1111", request_timeout_secs=3.0))
    options = gcs_options()
    assert options["endpoint_url"] == "http://127.0.0.1:9999"
    assert options["token"] == "anon"
    assert options["requests_timeout"] == 3.0


def test_the_config_s_endpoint_is_used_when_the_environment_has_none() -> None:
    use_gcs_config(GcsConfig(endpoint="http://127.0.0.1:1111"))
    assert gcs_options()["endpoint_url"] == "http://127.0.0.1:1111"


def test_a_service_account_file_or_anonymous_access_from_the_config(tmp_path: Path) -> None:
    key = tmp_path / "sa.json"
    use_gcs_config(GcsConfig(credentials=str(key)))
    assert gcs_options()["token"] == str(key)
    use_gcs_config(GcsConfig(anonymous=True))
    assert gcs_options()["token"] == "anon"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[results]\nupload_root = "/srv/up"\n', "results.upload_root: must be a gs://"),
        ('[results]\nupload_root = "gs://"\n', "results.upload_root: names no bucket"),
        (
            '[results]\nroot = "gs://aaa/b"\nupload_root = "gs://ccc/d"\n',
            "results.upload_root: set while results.root is already remote",
        ),
        ('[gcs]\nendpoint = "127.0.0.1:9"\n', "gcs.endpoint: must start with http://"),
        ("[gcs]\nrequest_timeout_secs = 0\n", "gcs.request_timeout_secs: must be positive"),
        ("[uploads]\nmax_attempts = 0\n", "uploads.max_attempts: must be at least 1"),
        ("[uploads]\ntimeout_secs = 0\n", "uploads.timeout_secs: must be a positive number"),
        (
            "[uploads]\nbackoff_secs = 90\n",
            "uploads.backoff_secs: 90 is above uploads.max_backoff_secs 60",
        ),
    ],
)
def test_bad_storage_settings_are_one_line_naming_the_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert expected in message and "\n" not in message
