"""Where a file may be downloaded from: https only (plain http for loopback hosts
and a mirror you chose), no credentials in a URL, redirects held to the same rules,
and the official origins replaced by ``$KERAS_APPLICATIONS_BN_MIRROR`` when set."""

import ipaddress
import urllib.parse
import urllib.request

from keras_applications_bn.weights import settings
from keras_applications_bn.weights.errors import WeightsError
from keras_applications_bn.weights.registry import ORIGINS
from keras_applications_bn.weights.settings import MIRROR_ENV


def _is_loopback(host):
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_scheme(url, http_host=None, what="`url`"):
    """Refuse a URL that a download must not use.

    Args:
        url: the URL.
        http_host: a host plain http is allowed to (the mirror's), or None.
        what: how to name the URL in the error.

    Raises:
        ValueError: ``url`` is not https (or http to a loopback host or
            ``http_host``), or it holds credentials.
    """
    parts = urllib.parse.urlsplit(url)
    _refuse_credentials(parts, what)
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return
    if scheme == "http" and parts.hostname:
        if _is_loopback(parts.hostname) or (http_host and parts.hostname == http_host):
            return
        raise ValueError(
            f"{what} must use https for a remote host, got {url!r}. Plain http is accepted "
            f"only for loopback hosts or a mirror you set in ${MIRROR_ENV}."
        )
    raise ValueError(f"{what} must be an https:// (or loopback http://) URL, got {url!r}.")


def _refuse_credentials(parts, what):
    """Credentials in a URL would be sent with every redirect, written to the cache's
    manifest and shown in error messages; refuse them (without echoing them)."""
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or "?"
        raise ValueError(
            f"{what} must not contain credentials (user:password@{host}); they would be "
            "stored in the cache's manifest and printed in messages. Use a mirror that "
            f"needs none (${MIRROR_ENV}), or download the file yourself and copy it into "
            "the cache."
        )


def source_url(url):
    """Where to download ``url`` from.

    Args:
        url: the file's URL (its official one, or any https URL).

    Returns:
        ``(source, http_host)``: the URL to download (the mirror's, when set and
        ``url`` is under one of the official origins) and the host for which plain
        http was explicitly allowed (``None`` if none).

    Raises:
        ValueError: ``url`` or the mirror is not a URL a download may use.
    """
    mirror = settings.mirror()
    origin = next((o for o in ORIGINS if url.startswith(o)), None)
    if mirror and origin:
        parts = urllib.parse.urlsplit(mirror)
        _refuse_credentials(parts, f"${MIRROR_ENV}")
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"${MIRROR_ENV} must be an http(s) base URL such as "
                f"'https://mirror.example.com/keras/', got {mirror!r}."
            )
        return mirror.rstrip("/") + "/" + url[len(origin) :], parts.hostname
    check_scheme(url)
    return url, None


class RedirectPolicy(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to URLs ``check_scheme`` accepts (no https->http).

    Args:
        http_host: as for ``check_scheme``.
    """

    def __init__(self, http_host):
        super().__init__()
        self.http_host = http_host

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        try:
            check_scheme(newurl, self.http_host, what="A redirect target")
        except ValueError as e:
            raise WeightsError(f"Refusing redirect from {req.full_url}: {e}") from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)
