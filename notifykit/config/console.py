"""The ``console:`` section: who may use the web console of ``notifykit serve`` (issue 19).

::

    console:
      users:
        asha: {password: "scrypt$16384$8$1$<salt>$<hash>"}   # notifykit console hash-password
      trusted_header: X-Forwarded-User      # or: a reverse proxy that logs people in says who
      trusted_proxies: [127.0.0.1/32]       # ...and only these addresses may say it
      secret: ${CONSOLE_SECRET}             # signs session cookies (unset: one per process)
      session: 12h

Without users and without a trusted header the console is off (its URLs answer ``404``).
Passwords are never in the file: only their scrypt hashes, in the self-describing form
``scrypt$N$r$p$salt$hash`` (salt and hash in unpadded URL-safe base64) that
:func:`parse_password_hash` reads and ``notifykit console hash-password`` prints.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import yaml

from notifykit.config.convert import convert
from notifykit.config.schema import INVALID, Checker, UnsetEnv
from notifykit.config.settings import Duration, Settings, setting

__all__ = [
    "MAX_SCRYPT_MEMORY",
    "SCRYPT_LIMITS",
    "ConsoleSettings",
    "ConsoleUser",
    "PasswordHash",
    "load_console",
    "parse_password_hash",
]

#: the largest scrypt cost accepted from a config (a hash can't make every login cost minutes)
SCRYPT_LIMITS = {"n": 1 << 20, "r": 32, "p": 16}
#: the most memory one check of a config's hash may take (128*N*r bytes)
MAX_SCRYPT_MEMORY = 256 << 20


@dataclass(frozen=True)
class PasswordHash:
    """A parsed ``scrypt$N$r$p$salt$hash`` string."""

    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_password_hash(text: str) -> PasswordHash:
    """The parts of a ``scrypt$N$r$p$salt$hash`` string.

    :raises ValueError: not one (the message says what is wrong, never the text itself).
    """
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError(
            "expected scrypt$N$r$p$salt$hash, as notifykit console hash-password prints it"
        )
    try:
        n, r, p = (int(part) for part in parts[1:4])
    except ValueError:
        raise ValueError("scrypt's N, r and p must be whole numbers") from None
    if n < 2 or n & (n - 1) or n > SCRYPT_LIMITS["n"]:
        raise ValueError(f"scrypt's N must be a power of 2 up to {SCRYPT_LIMITS['n']}")
    if not 1 <= r <= SCRYPT_LIMITS["r"] or not 1 <= p <= SCRYPT_LIMITS["p"]:
        raise ValueError(
            f"scrypt's r must be 1 to {SCRYPT_LIMITS['r']} and p 1 to {SCRYPT_LIMITS['p']}"
        )
    try:
        salt, digest = _b64(parts[4]), _b64(parts[5])
    except (binascii.Error, ValueError):
        raise ValueError("the salt and the hash must be URL-safe base64") from None
    if 128 * n * r > MAX_SCRYPT_MEMORY:
        raise ValueError(f"scrypt's N and r need over {MAX_SCRYPT_MEMORY >> 20} MiB (128*N*r)")
    if len(salt) < 16 or not 16 <= len(digest) <= 128:
        raise ValueError("the salt must be at least 16 bytes and the hash 16 to 128")
    return PasswordHash(n, r, p, salt, digest)


def _check_hash(value: str) -> Iterable[str]:
    try:
        parse_password_hash(value)
    except ValueError as err:
        yield str(err)


def _check_networks(value: tuple[str, ...]) -> Iterable[str]:
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            yield f"{item!r} is not an address or a network (such as 10.0.0.0/8 or ::1)"


def _check_secret(value: str | None) -> Iterable[str]:
    if value is not None and not isinstance(value, UnsetEnv) and len(value) < 32:
        yield "must be at least 32 characters (a random string: openssl rand -hex 32)"


class ConsoleUser(Settings):
    """A person who logs in to the console with a password."""

    password: str = setting(
        check=_check_hash,
        repr=False,
        doc="the password's scrypt hash (notifykit console hash-password prints it), never the "
        "password",
    )


class ConsoleSettings(Settings):
    """``console:``, the web console of ``notifykit serve`` (at ``/console/``): who may log in.
    Off without users and without a trusted header."""

    users: Mapping[str, ConsoleUser] = setting(
        default_factory=dict, doc="people who log in with a password, by user name"
    )
    trusted_header: str | None = setting(
        default=None,
        pattern=r"[A-Za-z0-9-]+",
        expected="a header name such as X-Forwarded-User",
        doc="a header a reverse proxy that logs people in sets to the user's name",
    )
    trusted_proxies: tuple[str, ...] = setting(
        default=("127.0.0.1/32", "::1/128"),
        check=_check_networks,
        doc="the addresses (CIDRs) the trusted header is accepted from; anyone else sending it "
        "is refused",
    )
    secret: str | None = setting(
        default=None,
        secret=True,
        check=_check_secret,
        doc="signs session cookies (${CONSOLE_SECRET}, 32+ characters); unset: a random one "
        "per process, so sessions end when serve restarts",
    )
    session: Duration = setting(
        default=12 * 3600.0, min=60.0, max=30 * 86400.0, doc="a login lasts this long"
    )
    login_attempts: int = setting(
        default=5, min=1, max=1000, doc="failed logins from one address per login_window"
    )
    login_window: Duration = setting(
        default=300.0, min=1.0, max=86400.0, doc="the window those failures are counted in"
    )

    @property
    def enabled(self) -> bool:
        """Whether anyone can log in: there are users, or a trusted header."""
        return bool(self.users or self.trusted_header)


def load_console(node: yaml.Node | None, path: str, ctx: Checker) -> ConsoleSettings:
    if node is None:
        return ConsoleSettings()
    value = convert(node, ConsoleSettings, path, ctx)
    return ConsoleSettings() if value is INVALID else value
