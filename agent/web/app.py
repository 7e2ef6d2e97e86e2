"""The review web page: a small server-rendered FastAPI app over the same store queries and view model as the CLI.

Security model (listing text is untrusted, the server may be reachable by other local processes or pages):
- Jinja autoescape is on for every template and no template marks data safe; highlighted evidence is rendered
  from plain-text segments. A strict Content-Security-Policy forbids inline script as a second line of defence.
- Every page needs a session. Opening the URL printed by `enrich serve` (`/?token=T`) exchanges the token for an
  HttpOnly, SameSite=Strict session cookie and redirects to the same page without the token.
- State changes are POST only and need the session cookie AND a CSRF value bound to the session (a hidden form
  field, HMAC of the session id under the token); otherwise 403 and nothing changes.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import inspect
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader
from starlette.templating import Jinja2Templates

from enrich.agent.review_view import (
    QueueFilters,
    audit_rows,
    bulk_counts,
    bulk_plan,
    proposal_view,
    queue_page,
    researcher_view,
)
from enrich.store import Store, StoreError, paging

HERE = Path(__file__).parent
SESSION_COOKIE = "enrich_session"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the first URL carries the token
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
FORBIDDEN_HTML = (
    "<!doctype html><title>403 Forbidden</title><h1>403 Forbidden</h1>"
    "<p>Open the URL that <code>enrich serve</code> printed (it carries the access token).</p>"
)
DONE_MESSAGES = {
    "accept": "Accepted proposal {pid}.",
    "reject": "Rejected proposal {pid}.",
    "edit": "Accepted proposal {pid} with your edited value.",
    "undo": "Undid the last review action.",
    "correct": "Corrected the split of proposal {pid}.",
    "bulk-accept": "Accepted {n} proposal(s).",
    "bulk-reject": "Rejected {n} proposal(s).",
}
PAGE_SIZE = 50


def _templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True
    )
    env.filters["conf"] = lambda c: "" if c is None else f"{c:.2f}"
    return Jinja2Templates(env=env)


def _local_path(next_url: str | None, default: str = "/") -> str:
    """Only redirect within this site (no scheme, no //host)."""
    if next_url and next_url.startswith("/") and not next_url.startswith("//") and "\\" not in next_url:
        return next_url
    return default


def create_app(store_path: str | Path, token: str, *, who: str | None = None, page_size: int = PAGE_SIZE) -> FastAPI:
    """The review app for the database at `store_path`; `token` unlocks it (see the module docstring). Lists show
    `page_size` rows a page."""
    if not token:
        raise ValueError("the review app needs a non-empty access token")
    store_path = str(store_path)
    Store.open(store_path).close()  # migrate once; requests open without migrating
    reviewer = who or os.environ.get("USER") or "reviewer"
    sessions: set[str] = set()
    templates = _templates()
    app = FastAPI(title="enrich review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store_path, app.state.sessions = store_path, sessions
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def csrf_for(session: str) -> str:
        return hmac.new(token.encode(), f"csrf:{session}".encode(), hashlib.sha256).hexdigest()

    @app.middleware("http")
    async def guard(request: Request, call_next) -> Response:
        response = await _guarded(request, call_next)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    async def _guarded(request: Request, call_next) -> Response:
        if request.url.path.startswith("/static/"):
            return await call_next(request)
        given = request.query_params.get("token")
        if given is not None:
            if request.method != "GET" or not hmac.compare_digest(given.encode(), token.encode()):
                return HTMLResponse(FORBIDDEN_HTML, status_code=403)
            fresh = secrets.token_urlsafe(32)
            sessions.add(fresh)
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + ("?" + urlencode(rest) if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(SESSION_COOKIE, fresh, httponly=True, samesite="strict", path="/")
            return response
        session = request.cookies.get(SESSION_COOKIE)
        if not session or session not in sessions:
            return HTMLResponse(FORBIDDEN_HTML, status_code=403)
        request.state.session = session
        request.state.csrf = csrf_for(session)
        return await call_next(request)

    async def check_csrf(request: Request) -> None:
        """POST guard: same-origin request carrying the session's CSRF value."""
        form = await request.form()
        given = str(form.get("csrf", ""))
        if not hmac.compare_digest(given.encode(), request.state.csrf.encode()):
            raise HTTPException(403, "missing or wrong CSRF value; reload the page")
        origin = request.headers.get("origin")
        if origin and origin != "null" and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
            raise HTTPException(403, "cross-origin request refused")
        if request.headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
            raise HTTPException(403, "cross-site request refused")

    def endpoint(fn):
        """Run a page or action with a store opened for this request, in the endpoint's own thread (a sqlite3
        connection must stay in the thread that made it, and FastAPI runs dependencies in other threads)."""

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any):
            store = Store.open(store_path, migrate=False)
            try:
                return fn(*args, store=store, **kwargs)
            finally:
                store.close()

        sig = inspect.signature(fn)
        # FastAPI reads the signature without `store`; functools.wraps' return type does not declare the attribute
        wrapper.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=[p for p in sig.parameters.values() if p.name != "store"]
        )
        return wrapper

    def render(request: Request, store: Store, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        done, pid = request.query_params.get("done"), request.query_params.get("pid", "")
        n = request.query_params.get("n", "")
        flash = (
            DONE_MESSAGES[done].format(pid=pid if pid.isdigit() else "", n=n if n.isdigit() else "")
            if done in DONE_MESSAGES
            else None
        )
        base = {
            "csrf": request.state.csrf,
            "pending_count": paging.count_proposals(store, paging.QueueQuery()),
            "flash": flash,
            "here": request.url.path,
            "reviewer": reviewer,
        }
        return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)

    def error(request: Request, store: Store, message: str, status_code: int = 400) -> HTMLResponse:
        return render(request, store, "error.html", status_code=status_code, message=message)

    def after_decision(action: str, pid: int, store: Store) -> RedirectResponse:
        nxt = paging.next_pending(store, pid)
        target = f"/proposals/{nxt}" if nxt else "/"
        return RedirectResponse(f"{target}?{urlencode({'done': action, 'pid': pid})}", status_code=303)

    def decide(action: str, do: Callable[[int, str], Any], store: Store, request: Request, pid: int):
        """accept / reject: the store action, a 409 page when it refuses, else on to the next proposal."""
        try:
            do(pid, reviewer)
        except StoreError as exc:  # a bug is a 500, not a refusal
            return error(request, store, f"could not {action} proposal {pid}: {exc}", 409)
        return after_decision(action, pid, store)

    # ------------------------------------------------------------------------------------------ pages

    def queue_filters(
        field: str | None,
        researcher: str | None,
        job: str | None,
        min_confidence: str | None,
        kind: str | None,
        sort: str | None,
    ) -> QueueFilters:
        try:
            minc = float(min_confidence) if min_confidence not in (None, "") else None
        except ValueError:
            raise StoreError("min confidence must be a number between 0 and 1") from None
        return QueueFilters(
            field=field or None,
            researcher=researcher or None,
            job=job or None,
            min_confidence=minc,
            kind=kind or None,
            sort=sort or "id",
        )

    def filter_params(filters: QueueFilters) -> dict[str, str]:
        """The filters as query parameters (for page links and the bulk form), empty ones left out."""
        given = {
            "field": filters.field,
            "researcher": filters.researcher,
            "job": filters.job,
            "min_confidence": None if filters.min_confidence is None else str(filters.min_confidence),
            "kind": filters.kind,
            "sort": None if filters.sort == "id" else filters.sort,
        }
        return {k: v for k, v in given.items() if v}

    @app.get("/", response_class=HTMLResponse)
    @endpoint
    def queue_page_view(
        store: Store,
        request: Request,
        field: str | None = None,
        researcher: str | None = None,
        job: str | None = None,
        min_confidence: str | None = None,
        kind: str | None = None,
        sort: str = "id",
        after: str | None = None,
        before: str | None = None,
    ):
        try:
            filters = queue_filters(field, researcher, job, min_confidence, kind, sort)
            page = queue_page(store, filters, limit=page_size, after=after or None, before=before or None)
        except StoreError as exc:
            return error(request, store, str(exc))
        params = filter_params(filters)
        return render(
            request,
            store,
            "queue.html",
            rows=page.rows,
            filters=filters,
            total=page.extra["total"],
            next_url=f"/?{urlencode({**params, 'after': page.next})}" if page.next else None,
            prev_url=f"/?{urlencode({**params, 'before': page.prev})}" if page.prev else None,
            filter_query=urlencode(params),
        )

    @app.get("/proposals/{pid}", response_class=HTMLResponse)
    @endpoint
    def proposal_page(store: Store, request: Request, pid: int):
        try:
            view = proposal_view(store, pid)
        except StoreError as exc:
            return error(request, store, str(exc), 404)
        around = paging.neighbours(store, pid)
        return render(
            request,
            store,
            "proposal.html",
            view=view,
            prev_id=around["prev"],
            next_id=around["next"],
            position=around["position"],
            total=around["total"],
        )

    @app.get("/researchers", response_class=HTMLResponse)
    @endpoint
    def researchers_page(store: Store, request: Request, after: str | None = None, before: str | None = None):
        try:
            page = paging.researcher_page(store, limit=page_size, after=after or None, before=before or None)
        except paging.CursorError as exc:
            return error(request, store, str(exc))
        return render(
            request,
            store,
            "researchers.html",
            rows=page.rows,
            total=paging.count_researchers(store),
            next_url=f"/researchers?{urlencode({'after': page.next})}" if page.next else None,
            prev_url=f"/researchers?{urlencode({'before': page.prev})}" if page.prev else None,
        )

    @app.get("/bulk", response_class=HTMLResponse)
    @endpoint
    def bulk_page(
        store: Store,
        request: Request,
        action: str = "accept",
        field: str | None = None,
        researcher: str | None = None,
        job: str | None = None,
        min_confidence: str | None = None,
        kind: str | None = None,
        sort: str = "id",
    ):
        """A bulk decision on the queue's filters: the count first, then a confirmation (POST)."""
        try:
            filters = queue_filters(field, researcher, job, min_confidence, kind, sort)
            counts = bulk_counts(store, filters, action=action)
        except StoreError as exc:
            return error(request, store, str(exc))
        return render(
            request,
            store,
            "bulk.html",
            plan=counts,
            action=action,
            filters=filters,
            params=filter_params(filters),
            filter_query=urlencode(filter_params(filters)),
        )

    @app.get("/researchers/{rid}", response_class=HTMLResponse)
    @endpoint
    def researcher_page(store: Store, request: Request, rid: int):
        try:
            view = researcher_view(store, rid)
        except StoreError as exc:
            return error(request, store, str(exc), 404)
        numbers = {w["work_id"]: i for i, w in enumerate(view.works, start=1)}
        return render(request, store, "researcher.html", view=view, numbers=numbers)

    @app.get("/audit", response_class=HTMLResponse)
    @endpoint
    def audit_page(
        store: Store, request: Request, researcher: str | None = None, job: str | None = None, limit: int = 100
    ):
        try:
            rid = store.find_researcher(researcher).id if researcher else None
        except StoreError as exc:
            return error(request, store, str(exc))
        rows = audit_rows(store, researcher_id=rid, job_id=job or None, limit=max(1, min(limit, 1000)))
        return render(request, store, "audit.html", rows=rows, researcher=researcher or "", job=job or "")

    # ------------------------------------------------------------------------------------------ actions (POST)

    @app.post("/proposals/{pid}/accept", dependencies=[Depends(check_csrf)])
    @endpoint
    def accept(store: Store, request: Request, pid: int):
        return decide("accept", store.accept, store, request, pid)

    @app.post("/proposals/{pid}/reject", dependencies=[Depends(check_csrf)])
    @endpoint
    def reject(store: Store, request: Request, pid: int):
        return decide("reject", store.reject, store, request, pid)

    @app.post("/proposals/{pid}/edit", dependencies=[Depends(check_csrf)])
    @endpoint
    def edit(store: Store, request: Request, pid: int, value: str = Form(...)):
        import json

        from pydantic import ValidationError

        from enrich.schemas.fields import coerce_cli_value

        try:
            p = store.get_proposal(pid)
            if p.kind != "field" or not p.field:
                raise StoreError(f"proposal {pid} is a {p.kind} proposal; only field proposals can be edited")
            store.accept(pid, reviewer, value=coerce_cli_value(p.field, value.strip()))
        except json.JSONDecodeError as exc:
            return error(request, store, f"the edited value is not valid JSON: {exc.msg}", 400)
        except ValidationError as exc:
            return error(request, store, f"the edited value is invalid: {exc.errors()[0].get('msg')}", 400)
        except StoreError as exc:
            return error(request, store, f"could not edit proposal {pid}: {exc}", 409)
        return after_decision("edit", pid, store)

    @app.post("/proposals/{pid}/correct", dependencies=[Depends(check_csrf)])
    @endpoint
    def correct(
        store: Store,
        request: Request,
        pid: int,
        op: str = Form(...),
        work_id: str | None = Form(None),
        to: str | None = Form(None),
        cluster: int | None = Form(None),
        into: int | None = Form(None),
        work_ids: Annotated[list[str] | None, Form()] = None,
    ):
        """A split correction (move / merge / split, see store.split_edit), then back to the proposal page."""
        from enrich.store import split_edit

        forms: dict[str, dict[str, Any]] = {
            "move": {"work_id": work_id, "to": to},
            "merge": {"cluster": cluster, "into": into},
            "split": {"cluster": cluster, "work_ids": work_ids or []},
        }
        args = forms.get(op, {})
        if any(v is None for v in args.values()):
            return error(request, store, f"the {op} correction is missing a value", 400)
        try:
            split_edit.correct_split(store, pid, reviewer, op, **args)
        except (StoreError, ValueError) as exc:
            return error(request, store, f"could not correct proposal {pid}: {exc}", 409)
        return RedirectResponse(f"/proposals/{pid}?{urlencode({'done': 'correct', 'pid': pid})}", status_code=303)

    @app.post("/bulk", dependencies=[Depends(check_csrf)])
    @endpoint
    def bulk(
        store: Store,
        request: Request,
        action: str = Form(...),
        expected: int = Form(...),
        field: str | None = Form(None),
        researcher: str | None = Form(None),
        job: str | None = Form(None),
        min_confidence: str | None = Form(None),
        kind: str | None = Form(None),
        sort: str | None = Form(None),
    ):
        """Decide every proposal the filters match, as confirmed: if the queue changed since the count was shown
        (more or fewer would be decided), nothing is done and the new count is shown again."""
        try:
            filters = queue_filters(field, researcher, job, min_confidence, kind, sort)
            plan = bulk_plan(store, filters, action=action)
        except StoreError as exc:
            return error(request, store, str(exc))
        if len(plan.todo) != expected:
            return error(
                request,
                store,
                f"the queue changed: {len(plan.todo)} proposal(s) now match, not {expected}; "
                "nothing was done, look at the count again",
                409,
            )
        do = store.accept if action == "accept" else store.reject
        done = 0
        for pid in plan.todo:
            try:
                do(pid, reviewer)
                done += 1
            except StoreError:
                continue  # decided meanwhile by someone else: leave it
        query = urlencode({**filter_params(filters), "done": f"bulk-{action}", "n": done})
        return RedirectResponse(f"/?{query}", status_code=303)

    @app.post("/undo", dependencies=[Depends(check_csrf)])
    @endpoint
    def undo(store: Store, request: Request, next: str | None = Form(None)):
        try:
            store.undo(reviewer)
        except StoreError as exc:
            return error(request, store, f"could not undo: {exc}", 409)
        target = _local_path(next).split("?")[0]
        return RedirectResponse(f"{target}?done=undo", status_code=303)

    return app
