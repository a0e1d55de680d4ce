"""The master key and the per-domain keys derived from it.

Why this shape: pseudonyms made with a keyed hash are only as safe as the key (ENISA 2019), and
pseudonyms from two purposes must not be linkable. So there is one secret master key, kept out of
git and out of every log, and one key per purpose domain derived from it with HKDF-SHA-256
(RFC 5869) under a label per domain: the same VIN gets unrelated pseudonyms in two domains, and
rotating the master key rotates them all.

Derivation (docs/pseudonymisation.md repeats it for auditors):
    PRK        = HMAC-SHA-256(key=SALT, msg=master_key)                    (HKDF-Extract)
    domain key = HKDF-Expand(PRK, info=b"pseudonym-domain:" + domain, L=32)
                 (also for the gate's fingerprint domain, "gate-fingerprint")
    HMAC key   = the 64 lowercase hex characters of the domain key, as ASCII bytes
    key version= "kv-" + first 12 hex characters of HKDF-Expand(PRK, b"key-version", 32)

The master key comes from, in this order: the environment variable PIPELINE_MASTER_KEY (hex), a
key file named by PIPELINE_MASTER_KEY_FILE (hex, readable by its owner alone), or the Airflow
connection `pseudonymisation_master_key` (its password, hex). Errors name the setting, never the
key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

ENV_KEY = "PIPELINE_MASTER_KEY"
ENV_KEY_FILE = "PIPELINE_MASTER_KEY_FILE"
AIRFLOW_CONN_ID = "pseudonymisation_master_key"
MIN_KEY_BYTES = 32
HKDF_SALT = b"claims-pseudo-pipeline/hkdf-salt/v1"
DOMAINS = ("actuarial", "marketing", "dpo")
# the publication gate's own domain: keyed fingerprints of raw values
# (transforms/ingest/fingerprints.py), never a pseudonym of any purpose
FINGERPRINT_DOMAIN = "gate-fingerprint"


class KeyConfigurationError(RuntimeError):
    """A key problem. The message names the setting to fix and never contains key material."""




def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.digest(salt, ikm, hashlib.sha256)


def hkdf_expand(prk: bytes, info: bytes, length: int = 32) -> bytes:
    """RFC 5869 HKDF-Expand with SHA-256."""
    if length > 255 * 32:
        raise ValueError("HKDF-Expand length too large")
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.digest(prk, block + info + bytes([counter]), hashlib.sha256)
        okm += block
        counter += 1
    return okm[:length]


def _parse_hex_key(text: str, setting: str) -> bytes:
    cleaned = text.strip()
    try:
        key = bytes.fromhex(cleaned)
    except ValueError:
        raise KeyConfigurationError(
            f"{setting} is malformed: expected the key as hexadecimal "
            f"(at least {MIN_KEY_BYTES * 2} hex characters); run `make key` to create one"
        ) from None
    if len(key) < MIN_KEY_BYTES:
        raise KeyConfigurationError(
            f"{setting} is too short: {len(key)} bytes, at least {MIN_KEY_BYTES} random bytes "
            "are required"
        )
    if len(set(key)) < 12:
        raise KeyConfigurationError(f"{setting} is weak: too few distinct bytes for a random key")
    return key


def _read_key_file(path: Path) -> bytes:
    setting = f"{ENV_KEY_FILE} ({path})"
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyConfigurationError(f"{setting}: the key file does not exist") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyConfigurationError(
            f"{setting}: the key file is readable by others; run `chmod 600` on it"
        )
    return _parse_hex_key(path.read_text(encoding="ascii", errors="replace"), setting)


def _from_airflow_connection() -> bytes | None:
    """The Airflow connection, when running under Airflow with that connection defined."""
    env_name = f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()}"
    if env_name not in os.environ and "AIRFLOW_HOME" not in os.environ:
        return None
    try:
        from airflow.sdk import Connection  # imported lazily: transforms run without Airflow
    except Exception:  # pragma: no cover - Airflow absent
        return None
    try:
        conn = Connection.get(AIRFLOW_CONN_ID)
    except Exception:
        return None
    if not conn or not conn.password:
        return None
    return _parse_hex_key(conn.password, f"Airflow connection {AIRFLOW_CONN_ID!r} (password)")


def load_master_key() -> bytes:
    """Find the master key, or raise a clear error naming the settings that were tried."""
    if os.environ.get(ENV_KEY):
        return _parse_hex_key(os.environ[ENV_KEY], ENV_KEY)
    if os.environ.get(ENV_KEY_FILE):
        return _read_key_file(Path(os.environ[ENV_KEY_FILE]))
    key = _from_airflow_connection()
    if key is not None:
        return key
    raise KeyConfigurationError(
        f"no pseudonymisation master key: set {ENV_KEY} (hex), {ENV_KEY_FILE} (path to a key "
        f"file readable by its owner alone) or the Airflow connection {AIRFLOW_CONN_ID!r}; "
        "`make key` creates a key file for local use. Nothing was written."
    )


# The format of a key version (DomainKeys.derive). The gate closes mart key_version columns to
# it and exempts its values from the identifier scans: 12 hex characters of a hash can spell a
# number an identifier pattern accepts (all twelve are digits for about 1 key in 280, which a
# French driving licence number matches), yet hold nothing of a person.
KEY_VERSION_REGEX = r"^kv-[0-9a-f]{12}$"


@dataclass(frozen=True)
class DomainKeys:
    """Per-domain HMAC keys derived from one master key. Its repr never shows key material."""

    _hex_keys: dict[str, str] = field(repr=False)
    key_version: str

    @classmethod
    def derive(cls, master_key: bytes, domains: tuple[str, ...] = DOMAINS) -> DomainKeys:
        prk = hkdf_extract(HKDF_SALT, master_key)
        hex_keys = {d: hkdf_expand(prk, b"pseudonym-domain:" + d.encode()).hex()
                    for d in (*domains, FINGERPRINT_DOMAIN)}
        version = "kv-" + hkdf_expand(prk, b"key-version").hex()[:12]
        return cls(hex_keys, version)

    def hmac_key(self, domain: str) -> str:
        """The HMAC key of a domain, as the ASCII hex string the hashing engine takes."""
        try:
            return self._hex_keys[domain]
        except KeyError:
            raise KeyConfigurationError(f"no key derived for pseudonym domain {domain!r}") from None

    def __str__(self) -> str:
        return f"DomainKeys(key_version={self.key_version})"


def load_domain_keys() -> DomainKeys:
    return DomainKeys.derive(load_master_key())


def generate_key_file(path: Path) -> Path:
    """Write a new random 32-byte master key as hex, readable by its owner alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(os.urandom(MIN_KEY_BYTES).hex() + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    """`python -m transforms.privacy.keys new PATH`: create a key file for local use."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m transforms.privacy.keys")
    sub = parser.add_subparsers(dest="cmd", required=True)
    new = sub.add_parser("new", help="create a new master key file (mode 600)")
    new.add_argument("path", type=Path)
    new.add_argument("--if-missing", action="store_true", help="do nothing if it exists")
    sub.add_parser("version", help="print the key version of the configured master key")
    args = parser.parse_args(argv)
    if args.cmd == "new":
        if args.if_missing and args.path.exists():
            print(f"key file {args.path} exists; kept")
            return 0
        generate_key_file(args.path)
        print(f"created key file {args.path} (mode 600)")
        return 0
    print(load_domain_keys().key_version)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
