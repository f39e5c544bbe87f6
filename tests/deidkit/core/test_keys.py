"""The project key: files with owner-only permissions, env var, ephemeral keys, fingerprints."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from deidkit.core.errors import KeyFileError, OutputPathError
from deidkit.core.keys import (
    KEY_ENV_VAR,
    MIN_KEY_BYTES,
    ProjectKey,
    generate_key_file,
    load_key,
    load_key_file,
    parse_key_text,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX-only")


def test_generate_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "k.key"
    key = generate_key_file(path)
    loaded = load_key_file(path)
    assert loaded.secret == key.secret and len(key.secret) == MIN_KEY_BYTES
    assert loaded.source == "file:k.key" and not loaded.ephemeral
    assert path.read_text().startswith("#")  # the header comment is allowed


@posix_only
def test_generated_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    generate_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_generate_refuses_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    path.write_text("precious")
    with pytest.raises(OutputPathError):
        generate_key_file(path)
    assert path.read_text() == "precious"


def test_two_generated_keys_differ(tmp_path: Path) -> None:
    assert generate_key_file(tmp_path / "a").secret != generate_key_file(tmp_path / "b").secret


@posix_only
def test_load_refuses_group_readable(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    generate_key_file(path)
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_key_file(path)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="not a readable file"):
        load_key_file(tmp_path / "missing")
    bad = tmp_path / "bad"
    bad.write_text("zz" * 40)
    bad.chmod(0o600)
    with pytest.raises(KeyFileError, match="malformed"):
        load_key_file(bad)
    short = tmp_path / "short"
    short.write_text("ab" * 8)
    short.chmod(0o600)
    with pytest.raises(KeyFileError, match="too short"):
        load_key_file(short)


@pytest.mark.parametrize(
    "value",
    ["ab" * 32, "ab" * 200, "ab" * 32 + "\x00", "folder"],
    ids=["hex", "too-long-for-a-name", "nul-byte", "folder"],
)
def test_unreadable_key_file_names_the_option_never_the_value(tmp_path: Path, value: str) -> None:
    (tmp_path / "folder").mkdir(mode=0o700)
    path = tmp_path / value
    with pytest.raises(KeyFileError) as raised:
        load_key_file(path, option="--linkage-key-file")
    assert str(raised.value) == "--linkage-key-file: not a readable file"
    with pytest.raises(KeyFileError) as raised:
        load_key(path, env={})
    assert str(raised.value) == "--key-file: not a readable file"


def test_parse_key_text_ignores_comments_and_whitespace() -> None:
    text = "# comment\n" + "ab" * 16 + "\n  " + "cd" * 16 + "  \n"
    assert parse_key_text(text) == bytes.fromhex("ab" * 16 + "cd" * 16)


def test_load_key_precedence(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    file_key = generate_key_file(path)
    env = {KEY_ENV_VAR: "11" * 32}
    assert load_key(path, env=env).secret == file_key.secret  # the file wins
    from_env = load_key(None, env=env)
    assert from_env.secret == bytes.fromhex("11" * 32) and from_env.source == f"env:{KEY_ENV_VAR}"
    random_key = load_key(None, env={})
    assert random_key.ephemeral and random_key.source == "random"
    assert load_key(None, env={}).secret != random_key.secret
    with pytest.raises(KeyFileError):
        load_key(None, env={}, allow_ephemeral=False)


def test_fingerprint_is_stable_and_reveals_nothing() -> None:
    key = ProjectKey(secret=bytes(range(32)), source="t")
    again = ProjectKey(secret=bytes(range(32)), source="other")
    assert key.fingerprint == again.fingerprint and len(key.fingerprint) == 16
    assert key.fingerprint not in key.secret.hex()
    assert bytes(range(32)).hex() not in repr(key) and "secret" not in repr(key)
    assert ProjectKey(secret=bytes(32), source="t").fingerprint != key.fingerprint


def test_digest_is_domain_separated() -> None:
    key = ProjectKey(secret=bytes(range(32)), source="t")
    assert key.digest("a", "x") != key.digest("b", "x")
    assert key.digest("a", "x") == key.digest("a", b"x")
    with pytest.raises(KeyFileError):
        ProjectKey(secret=b"short", source="t")
