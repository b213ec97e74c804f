"""A FastAPI service that fans work out through DBOS queues (DBOS 3.x, async)."""

from __future__ import annotations

from contextlib import asynccontextmanager

from dbos import DBOS, DBOSConfig, SetWorkflowID
from fastapi import FastAPI
from pydantic import BaseModel

config: DBOSConfig = {
    "name": "thumbnailer",
    "system_database_url": "sqlite:///thumbnailer.sqlite",
}
DBOS(config=config)


@asynccontextmanager
async def lifespan(app: FastAPI):
    DBOS.launch()
    # Queues are registered after launch, from the database-backed registry.
    await DBOS.register_queue_async("thumbnails", worker_concurrency=4)
    yield
    DBOS.destroy()


app = FastAPI(lifespan=lifespan)


class ImageRequest(BaseModel):
    image_id: str
    sizes: list[int]


@DBOS.step(retries_allowed=True, max_attempts=5)
async def fetch_image(image_id: str) -> bytes:
    return image_id.encode()


@DBOS.step()
async def resize(data: bytes, size: int) -> bytes:
    return data[:size]


@DBOS.step()
async def store(image_id: str, size: int, data: bytes) -> str:
    return f"s3://thumbs/{image_id}/{size}.png"


@DBOS.workflow()
async def make_thumbnail(image_id: str, size: int) -> str:
    data = await fetch_image(image_id)
    small = await resize(data, size)
    return await store(image_id, size, small)


@app.post("/thumbnails")
async def request_thumbnails(req: ImageRequest) -> dict:
    workflow_ids = []
    for size in req.sizes:
        with SetWorkflowID(f"thumb-{req.image_id}-{size}"):
            handle = await DBOS.enqueue_workflow_async("thumbnails", make_thumbnail, req.image_id, size)
        workflow_ids.append(handle.workflow_id)
    return {"workflows": workflow_ids}


@app.get("/thumbnails/{workflow_id}")
async def thumbnail_status(workflow_id: str) -> dict:
    handle = await DBOS.retrieve_workflow_async(workflow_id)
    status = await handle.get_status()
    if status.status != "SUCCESS":
        return {"status": status.status}
    return {"status": status.status, "url": await handle.get_result()}


@app.get("/healthz")
def healthz() -> dict:
    # A sync handler: sync DBOS APIs are the right ones here.
    return {"workflows": len(DBOS.list_workflows(limit=1))}
