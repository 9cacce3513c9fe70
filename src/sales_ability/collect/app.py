"""FastAPI app of the collection website (``sales-ability collect serve``)."""

from __future__ import annotations

import hmac
import os
from importlib import resources
from pathlib import Path

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from sales_ability.collect.storage import (
    PROFILE_CHOICES,
    QUESTIONS,
    ParticipantError,
    ParticipantStore,
)
from sales_ability.collect.video_check import container_extension, is_decodable_video
from sales_ability.data.ipip50 import ITEM_COLUMNS, load_key, score_answers
from sales_ability.errors import IPIPError

ADMIN_TOKEN_ENV = "SALES_ABILITY_ADMIN_TOKEN"
DEFAULT_MAX_UPLOAD = 100 * 1024 * 1024


class ConsentBody(BaseModel):
    agree: bool


class ProfileBody(BaseModel):
    profile: dict[str, str]


class IPIPBody(BaseModel):
    answers: dict[str, object]


def create_app(data_dir: str | Path, export_dir: str | Path | None = None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD) -> FastAPI:
    """The website and its API over the participant folders in ``data_dir``.

    Args:
        data_dir: where participant folders are written.
        export_dir: the collected-dataset folder (``data/raw/collected``) the admin export fills.
        max_upload_bytes: the largest answer recording accepted.
    """
    store = ParticipantStore(data_dir)
    app = FastAPI(title="sales-ability data collection", docs_url="/api/docs", openapi_url="/api/openapi.json")
    static = resources.files("sales_ability.collect").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.exception_handler(ParticipantError)
    async def participant_error(_: Request, err: ParticipantError) -> JSONResponse:
        return JSONResponse(status_code=err.status, content={"detail": str(err)})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return static.joinpath("index.html").read_text()

    @app.get("/api/questions")
    def questions() -> dict:
        return {
            "questions": list(QUESTIONS),
            "ipip50": [{"item": i.column, "text": i.text} for i in load_key()],
            "scale": ["Very inaccurate", "Moderately inaccurate", "Neither", "Moderately accurate", "Very accurate"],
            "profile": {k: list(v) for k, v in PROFILE_CHOICES.items()},
        }

    @app.post("/api/participants", status_code=201)
    def create_participant(request: Request) -> dict:
        return {"participant_id": store.create(request.headers.get("user-agent", ""))}

    @app.post("/api/participants/{participant_id}/consent")
    def consent(participant_id: str, body: ConsentBody) -> dict:
        store.consent(participant_id, body.agree)
        return {"ok": True}

    @app.post("/api/participants/{participant_id}/profile")
    def profile(participant_id: str, body: ProfileBody) -> dict:
        store.save_profile(participant_id, body.profile)
        return {"ok": True}

    @app.put("/api/participants/{participant_id}/answers/{number}")
    async def upload_answer(participant_id: str, number: int, request: Request) -> dict:
        folder = store.folder(participant_id)  # 400/404 before reading the body
        if not store.has_consent(folder):
            raise ParticipantError(403, "answers are accepted only after consent")
        declared = int(request.headers.get("content-length") or 0)
        if declared > max_upload_bytes:
            raise ParticipantError(413, f"recording too large: {declared} bytes, the limit is {max_upload_bytes}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_upload_bytes:
                raise ParticipantError(413, f"recording too large: over {max_upload_bytes} bytes")
            chunks.append(chunk)
        data = b"".join(chunks)
        extension = container_extension(data)
        if extension is None or not is_decodable_video(data, extension):
            raise ParticipantError(415, "not a video: the upload must be a webm or mp4 recording")
        path = store.save_answer(participant_id, number, data, extension)
        return {"ok": True, "answer": number, "bytes": size, "file": path.name}

    @app.post("/api/participants/{participant_id}/ipip50")
    def submit_ipip(participant_id: str, body: IPIPBody) -> dict:
        store.folder(participant_id)
        unknown = sorted(set(body.answers) - set(ITEM_COLUMNS))
        if unknown:
            raise ParticipantError(422, f"unknown items: {', '.join(unknown[:5])}")
        try:
            scores = score_answers(body.answers, participant=participant_id)
        except IPIPError as err:
            raise ParticipantError(422, str(err)) from None
        store.save_ipip(participant_id, {k: int(float(body.answers[k])) for k in ITEM_COLUMNS}, scores)
        return {"ok": True}

    @app.post("/api/participants/{participant_id}/complete")
    def complete(participant_id: str) -> dict:
        return store.complete(participant_id)

    def admin(authorization: str | None = Header(default=None)) -> None:
        token = os.environ.get(ADMIN_TOKEN_ENV)
        if not token:
            raise HTTPException(503, f"admin is disabled: set {ADMIN_TOKEN_ENV}")
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "admin token required (Authorization: Bearer <token>)")

    @app.get("/api/admin/participants", dependencies=[Depends(admin)])
    def list_participants() -> dict:
        return {"participants": store.list()}

    @app.post("/api/admin/export", dependencies=[Depends(admin)])
    def export() -> dict:
        if export_dir is None:
            raise HTTPException(409, "no export folder configured (--export-dir)")
        return store.export(export_dir)

    @app.delete("/api/admin/participants/{participant_id}", dependencies=[Depends(admin)])
    def delete(participant_id: str) -> dict:
        store.delete(participant_id, Path(export_dir) if export_dir else None)
        return {"deleted": participant_id}

    return app
