"""Unsubscribe links: a customer's id signed with the workspace's secret, so a link works
for ever (no expiry: an old e-mail's link must still stop the mail) and cannot be changed
to unsubscribe someone else.

A token is ``<customer id, base64url>.<HMAC-SHA256 of it, first 16 bytes, base64url>``,
keyed by ``settings.session_secret`` (WINBACK_SECRET_KEY). The desk's public pages
``GET /unsubscribe/<token>`` (asks the customer to confirm) and ``POST`` to the same address
(the confirm button, and mail programs' one-click unsubscribe, RFC 8058) block the customer
with :func:`winback.desk.do_not_contact.block`, source ``unsubscribe``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from winback.errors import InvalidInput, SettingsError
from winback.settings import Settings

_PURPOSE = b"winback unsubscribe\x00"
_MAC_BYTES = 16
PATH = "/unsubscribe/"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, customer_id: str) -> bytes:
    digest = hmac.new(secret.encode(), _PURPOSE + customer_id.encode(), hashlib.sha256)
    return digest.digest()[:_MAC_BYTES]


def make_token(secret: str, customer_id: str) -> str:
    customer_id = str(customer_id).strip()
    if not customer_id or len(customer_id) > 100:
        raise InvalidInput(
            f"customer id {customer_id!r}: give the customer's id (1-100 characters)"
        )
    return f"{_b64(customer_id.encode())}.{_b64(_mac(secret, customer_id))}"


def read_token(secret: str, token: str) -> str:
    """The customer id in ``token``; InvalidInput if it was cut short or changed."""
    refused = InvalidInput(
        "this unsubscribe link is not valid: it may have been cut short or changed. Open "
        "the whole link from the e-mail, or reply to the e-mail and ask us to stop"
    )
    if not isinstance(token, str) or len(token) > 300 or token.count(".") != 1:
        raise refused
    encoded_id, encoded_mac = token.split(".")
    try:
        customer_id = _unb64(encoded_id).decode("utf-8")
        mac = _unb64(encoded_mac)
    except (binascii.Error, ValueError):
        raise refused from None
    if not customer_id or not hmac.compare_digest(mac, _mac(secret, customer_id)):
        raise refused
    return customer_id


def _base(settings: Settings) -> str:
    if not settings.public_url:
        raise SettingsError(
            "WINBACK_PUBLIC_URL is not set: give the address customers reach the desk at, "
            "such as https://desk.example.com (unsubscribe links start with it)"
        )
    return settings.public_url.rstrip("/")


def unsubscribe_url(settings: Settings, customer_id: str) -> str:
    """The link that unsubscribes ``customer_id`` (for the e-mail's text)."""
    return _base(settings) + PATH + make_token(settings.session_secret, customer_id)


def unsubscribe_headers(settings: Settings, customer_id: str) -> dict[str, str]:
    """The headers for an OutgoingMessage that let mail programs offer a one-click
    unsubscribe (RFC 2369 and RFC 8058)."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(settings, customer_id)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
