"""`enrich serve`: the review web page (agent/web/app.py) on this machine."""

from __future__ import annotations

import ipaddress
import os
import secrets

import click

from enrich.agent.cli.common import EnrichError, pass_app

MIN_TOKEN_CHARS = 12


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def page_url(host: str, port: int, token: str) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/?token={token}"


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="Port to listen on.")
@click.option(
    "--allow-remote", is_flag=True, help="Allow a non-loopback --host (anyone who can reach it still needs the token)."
)
@click.option(
    "--token",
    default=None,
    envvar="ENRICH_SERVE_TOKEN",
    show_envvar=True,
    help=f"Access token (at least {MIN_TOKEN_CHARS} characters) [default: a new random one per start].",
)
@click.option(
    "--who",
    default=lambda: os.environ.get("USER") or "reviewer",
    show_default="$USER or 'reviewer'",
    help="Who decides (recorded in the audit log as human:<who>).",
)
@pass_app
def serve(app, host: str, port: int, allow_remote: bool, token: str | None, who: str) -> None:
    """Serve the review page: queue, proposal detail, researcher pages, audit log.

    Prints the URL to open; it carries the access token that every page and every change needs.
    """
    if not is_loopback(host) and not allow_remote:
        raise EnrichError(f"--host {host} is not a loopback address; add --allow-remote to serve beyond this machine")
    token = token or secrets.token_urlsafe(24)
    if len(token) < MIN_TOKEN_CHARS:
        raise EnrichError(f"the access token must have at least {MIN_TOKEN_CHARS} characters")
    import uvicorn

    from enrich.agent.web.app import create_app

    web = create_app(app.settings.db, token, who=who)
    click.echo(f"Review page for {app.settings.db}: {page_url(host, port, token)}")
    click.echo("Open that URL (it carries the access token). Ctrl-C stops the server.")
    uvicorn.run(web, host=host, port=port, log_level="warning")
