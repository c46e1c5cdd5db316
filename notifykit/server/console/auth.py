"""Who is using the console: password hashes, signed session cookies, the CSRF token of a
session, the login rate limit and the trusted reverse-proxy header.

- **Passwords** are checked against the config's ``scrypt$N$r$p$salt$hash`` with
  :func:`hashlib.scrypt` and :func:`hmac.compare_digest`; an unknown user costs the same scrypt
  as a known one (no telling which names exist by timing).
- **Sessions** are stateless cookies: ``<user>.<via>.<expires>.<session id>.<signature>``, the
  signature an HMAC-SHA256 under a key derived from ``console.secret`` (or 32 random bytes per
  process). A logged-out session id is remembered until it would have expired anyway.
- **CSRF**: each session has a token, the HMAC of its session id, sent back in every form's
  hidden field and compared in constant time.
- **Logins** failing more than ``console.login_attempts`` times per ``console.login_window``
  from one address are refused (``429``) until the window has moved on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from notifykit.config.console import ConsoleSettings, PasswordHash, parse_password_hash

__all__ = [
    "LoginLimiter",
    "Passwords",
    "Session",
    "Sessions",
    "TrustedProxies",
    "hash_password",
    "verify_password",
]

#: the cost of a new hash: N=2**15, r=8, p=1 (32 MiB; a check took 150-190 ms on the project's
#: two-core test machine)
DEFAULT_COST = (1 << 15, 8, 1)
#: addresses whose failures are remembered at most (the oldest forgotten first)
MAX_TRACKED = 10_000
#: logged-out sessions remembered at most
MAX_REVOKED = 10_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, parsed: PasswordHash) -> bytes:
    n, r, p = parsed.n, parsed.r, parsed.p
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=parsed.salt,
        n=n,
        r=r,
        p=p,
        maxmem=2 * 128 * n * r + (1 << 20),
        dklen=len(parsed.digest),
    )


def hash_password(password: str, *, cost: tuple[int, int, int] = DEFAULT_COST) -> str:
    """The ``scrypt$N$r$p$salt$hash`` string of ``password`` with a new 16-byte salt."""
    n, r, p = cost
    parsed = PasswordHash(n, r, p, secrets.token_bytes(16), b"\0" * 32)
    digest = _scrypt(password, parsed)
    return f"scrypt${n}${r}${p}${_b64(parsed.salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` (a ``scrypt$...`` string) was made from."""
    try:
        parsed = parse_password_hash(stored)
    except ValueError:
        return False
    return hmac.compare_digest(_scrypt(password, parsed), parsed.digest)


class Passwords:
    """The users of ``console.users`` and their hashes."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self._hashes = {name: user.password for name, user in settings.users.items()}
        # an unknown name is checked against this, at the cost of a real user's hash
        cost = next(iter(self._hashes.values()), "")
        try:
            parsed = parse_password_hash(cost)
            dummy_cost = (parsed.n, parsed.r, parsed.p)
        except ValueError:
            dummy_cost = DEFAULT_COST
        self._dummy = hash_password(secrets.token_hex(16), cost=dummy_cost)

    def __contains__(self, user: str) -> bool:
        return user in self._hashes

    def check(self, user: str, password: str) -> bool:
        stored = self._hashes.get(user)
        matched = verify_password(password, stored or self._dummy)
        return matched and stored is not None


@dataclass(frozen=True)
class Session:
    """A logged-in user: ``via`` is ``password`` or ``header`` (the trusted proxy's)."""

    user: str
    via: str
    expires: float
    id: str
    csrf: str


class Sessions:
    """Signs and reads session cookies; makes and checks their CSRF tokens."""

    def __init__(self, secret: str | None, lifetime: float, clock: Callable[[], float]) -> None:
        raw = secret.encode("utf-8") if secret else secrets.token_bytes(32)
        self._key = hashlib.sha256(b"notifykit console session\0" + raw).digest()
        self._csrf_key = hashlib.sha256(b"notifykit console csrf\0" + raw).digest()
        self.lifetime = lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._revoked: OrderedDict[str, float] = OrderedDict()

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def _csrf(self, session_id: str) -> str:
        return _b64(hmac.new(self._csrf_key, session_id.encode("ascii"), hashlib.sha256).digest())

    def new(self, user: str, via: str) -> tuple[Session, str]:
        """A new session for ``user`` and its cookie value."""
        session_id = secrets.token_urlsafe(18)
        expires = int(self._clock() + self.lifetime)
        payload = f"{_b64(user.encode('utf-8'))}.{via}.{expires}.{session_id}"
        cookie = f"{payload}.{self._sign(payload)}"
        return Session(user, via, float(expires), session_id, self._csrf(session_id)), cookie

    def read(self, cookie: str) -> Session | None:
        """The session of a cookie value: ``None`` when it is forged, expired or logged out."""
        parts = cookie.split(".")
        if len(parts) != 5:
            return None
        payload, signature = ".".join(parts[:4]), parts[4]
        if not hmac.compare_digest(self._sign(payload), signature):
            return None
        user_text, via, expires_text, session_id = parts[:4]
        try:
            user = _unb64(user_text).decode("utf-8")
            expires = float(expires_text)
        except (binascii.Error, ValueError):
            return None
        if expires <= self._clock():
            return None
        with self._lock:
            if session_id in self._revoked:
                return None
        return Session(user, via, expires, session_id, self._csrf(session_id))

    def csrf_ok(self, session: Session, token: str) -> bool:
        return hmac.compare_digest(session.csrf.encode(), token.encode("utf-8", "replace"))

    def revoke(self, session: Session) -> None:
        """Log a session out (its cookie is refused from now on, in this process)."""
        now = self._clock()
        with self._lock:
            self._revoked[session.id] = session.expires
            for key, expires in list(self._revoked.items()):
                if expires > now and len(self._revoked) <= MAX_REVOKED:
                    break
                del self._revoked[key]


class LoginLimiter:
    """At most ``attempts`` failed logins per ``window`` seconds from one address."""

    def __init__(self, attempts: int, window: float, clock: Callable[[], float]) -> None:
        self.attempts, self.window = attempts, window
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(address, ()) if t > now - self.window]
        if times:
            self._failures[address] = times
            self._failures.move_to_end(address)
        else:
            self._failures.pop(address, None)
        return times

    def wait(self, address: str) -> float:
        """Seconds until ``address`` may try again (0: now)."""
        now = self._clock()
        with self._lock:
            times = self._recent(address, now)
            if len(times) < self.attempts:
                return 0.0
            return max(1.0, times[-self.attempts] + self.window - now)

    def failed(self, address: str) -> None:
        now = self._clock()
        with self._lock:
            self._recent(address, now)
            self._failures.setdefault(address, []).append(now)
            self._failures.move_to_end(address)
            while len(self._failures) > MAX_TRACKED:
                self._failures.popitem(last=False)


class TrustedProxies:
    """The networks ``console.trusted_proxies`` names."""

    def __init__(self, networks: Iterable[str]) -> None:
        self._networks = [ipaddress.ip_network(n, strict=False) for n in networks]

    def __contains__(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self._networks)
