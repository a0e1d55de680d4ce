"""Master key loading and HKDF derivation: clear errors, no key material anywhere in them."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import pytest

from transforms.privacy import keys


def test_hkdf_rfc5869_case_1() -> None:
    ikm = bytes([0x0B] * 22)
    salt = bytes(range(0x0D))
    info = bytes(range(0xF0, 0xFA))
    prk = keys.hkdf_extract(salt, ikm)
    assert prk.hex() == "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
    okm = keys.hkdf_expand(prk, info, 42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
        "34007208d5b887185865"
    )


def test_hkdf_rfc5869_case_3_empty_salt_and_info() -> None:
    prk = keys.hkdf_extract(b"", bytes([0x0B] * 22))
    assert keys.hkdf_expand(prk, b"", 42).hex() == (
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
        "9d201395faa4b61a96c8"
    )


def test_missing_key_names_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PIPELINE_MASTER_KEY", "PIPELINE_MASTER_KEY_FILE", "AIRFLOW_HOME",
                 "AIRFLOW_CONN_PSEUDONYMISATION_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(keys.KeyConfigurationError, match="PIPELINE_MASTER_KEY"):
        keys.load_master_key()


@pytest.mark.parametrize(
    ("value", "message"),
    [("ab" * 16, "too short"), ("zz" * 40, "malformed"), ("00" * 32, "weak")],
)
def test_bad_keys_are_refused_without_echoing_them(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("PIPELINE_MASTER_KEY", value)
    with pytest.raises(keys.KeyConfigurationError, match=message) as info:
        keys.load_master_key()
    assert value not in str(info.value)


def test_key_file_must_be_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIPELINE_MASTER_KEY", raising=False)
    path = keys.generate_key_file(tmp_path / "master.key")
    assert (path.stat().st_mode & 0o777) == 0o600
    monkeypatch.setenv("PIPELINE_MASTER_KEY_FILE", str(path))
    assert len(keys.load_master_key()) == 32
    path.chmod(0o644)
    with pytest.raises(keys.KeyConfigurationError, match="readable by others"):
        keys.load_master_key()


def test_domains_get_unrelated_keys_and_repr_hides_them() -> None:
    master = os.urandom(32)
    dk = keys.DomainKeys.derive(master)
    hex_keys = {d: dk.hmac_key(d) for d in keys.DOMAINS}
    assert len(set(hex_keys.values())) == len(keys.DOMAINS)
    for k in hex_keys.values():
        assert k not in repr(dk) and k not in str(dk)
    assert master.hex() not in repr(dk)
    assert dk.key_version.startswith("kv-") and len(dk.key_version) == 15


def test_derivation_recomputable_with_stdlib_only() -> None:
    """What docs/pseudonymisation.md tells an auditor to do, done with hmac/hashlib alone."""
    master = os.urandom(32)
    prk = hmac.new(keys.HKDF_SALT, master, hashlib.sha256).digest()
    t1 = hmac.new(prk, b"pseudonym-domain:actuarial" + b"\x01", hashlib.sha256).digest()
    assert keys.DomainKeys.derive(master).hmac_key("actuarial") == t1.hex()
