"""Authentication: passwords, tokens, API keys and the request dependencies.

How each kind of client signs in:

* Server-to-server: an API key (``POST /api/v1/keys``; shown once) as
  ``Authorization: Bearer mk_...``.
* Apps (auth_mode=accounts): ``POST /api/v1/auth/signup`` or ``/login`` give a 15-minute
  access token and a refresh token; ``POST /api/v1/auth/refresh`` rotates the refresh token.
* One machine (auth_mode=local, the default): at first start an account is created and its
  API key written to ``<data_dir>/local-api-key`` (mode 0600) and printed. Nothing is trusted
  because it comes from loopback: other local users and web pages in the browser can reach
  loopback too.
* The web page: asks for the API key once (or email/password in accounts mode), keeps it in
  the browser, and sends it as a Bearer header on fetch/XHR. For ``<video src>``, poster
  ``<img>`` and ``EventSource``, which cannot send headers, it gets a short-lived access
  token from ``POST /api/v1/auth/token`` and appends ``?access_token=<token>`` (GET/HEAD only;
  see :func:`media_url`).
"""

# Import the dependencies from .deps (not re-exported here: accounts.store imports .tokens).


def media_url(path: str, access_token: str) -> str:
    """``path`` with an access token a browser element can load without headers."""
    separator = "&" if "?" in path else "?"
    return f"{path}{separator}access_token={access_token}"
