"""Browser sessions: an API key is exchanged once at ``/login`` for a signed, expiring cookie.

The cookie names the key (its id, never the token) and a random nonce, signed with the
installation's session secret and stamped with the time of sign-in; it is HttpOnly and
SameSite=Strict. A revoked key ends its sessions, because every request looks the key up again
(through the principal cache). Requests that change state and authenticate by cookie must carry
the session's CSRF token in ``X-CSRF-Token`` (or a ``csrf_token`` form field): an HMAC of the
nonce, so it is bound to the one session and needs no server-side store.
"""

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from api.config import PROJECT_ROOT, Settings

SESSION_COOKIE = "gd_session"
LOGIN_CSRF_COOKIE = "gd_login_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECRET_FILE = PROJECT_ROOT / "var" / "session-secret"


@dataclass(frozen=True, slots=True)
class BrowserSession:
    """A signed-in browser: the API key it signed in with and the session's nonce."""

    key_id: str
    nonce: str


class SessionSigner:
    """Issues and reads session cookies and their CSRF tokens with one secret."""

    def __init__(self, secret: str, *, ttl_s: float) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="geodispatch-session")
        self._csrf_key = hashlib.sha256(f"csrf:{secret}".encode()).digest()
        self.ttl_s = ttl_s

    def issue(self, key_id: str) -> tuple[str, BrowserSession]:
        """Return a new session for ``key_id`` and the cookie value that carries it."""
        session = BrowserSession(key_id=key_id, nonce=secrets.token_urlsafe(16))
        return self._serializer.dumps([session.key_id, session.nonce]), session

    def read(self, cookie: str) -> BrowserSession | None:
        """Return the session a cookie carries, or None if it is forged, malformed or expired."""
        try:
            key_id, nonce = self._serializer.loads(cookie, max_age=round(self.ttl_s))
        except (BadSignature, SignatureExpired, ValueError, TypeError):
            return None
        if not isinstance(key_id, str) or not isinstance(nonce, str):
            return None
        return BrowserSession(key_id=key_id, nonce=nonce)

    def csrf_token(self, session: BrowserSession) -> str:
        """Return the CSRF token of ``session``."""
        return hmac.new(self._csrf_key, session.nonce.encode(), hashlib.sha256).hexdigest()

    def is_valid_csrf(self, session: BrowserSession, token: str | None) -> bool:
        """Whether ``token`` is the CSRF token of ``session`` (compared in constant time)."""
        return token is not None and hmac.compare_digest(self.csrf_token(session), token)


def load_or_create_secret(path: Path = SECRET_FILE) -> str:
    """Return the secret kept in ``path``, creating it (mode 0600) on first use.

    Every process of an installation (``serve --workers N``) reads the same file, so they all
    accept each other's cookies; creation is exclusive, so two processes starting together agree.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def make_signer(settings: Settings) -> SessionSigner:
    """Build the signer from the configured secret, else the installation's secret file."""
    secret = settings.session_secret
    value = secret.get_secret_value() if secret is not None else load_or_create_secret()
    return SessionSigner(value, ttl_s=settings.session_ttl_h * 3600)


def session_signer(request: Request) -> SessionSigner:
    """Return the app's signer, made on first use."""
    state = request.app.state
    signer: SessionSigner | None = getattr(state, "session_signer", None)
    if signer is None:
        signer = state.session_signer = make_signer(state.settings)
    return signer


def request_session(request: Request) -> BrowserSession | None:
    """Return the browser session of the request's cookie, if it carries a valid one."""
    cookie = request.cookies.get(SESSION_COOKIE)
    return None if cookie is None else session_signer(request).read(cookie)
