"""An order service: FastAPI handlers enqueue durable workflows on a database-backed queue."""

import os
from contextlib import asynccontextmanager

import httpx
from dbos import DBOS, DBOSConfig, SetWorkflowID
from fastapi import FastAPI

config: DBOSConfig = {
    "name": "order-service",
    "system_database_url": os.environ.get("DBOS_SYSTEM_DATABASE_URL", "sqlite:///orders.sqlite"),
    "application_version": "0.1.0",
}
DBOS(config=config)


@asynccontextmanager
async def lifespan(api: FastAPI):
    DBOS.launch()
    await DBOS.register_queue_async("orders", worker_concurrency=4, global_concurrency=20)
    yield
    DBOS.destroy()


app = FastAPI(lifespan=lifespan)
INVENTORY_URL = "https://inventory.internal/reserve"


@DBOS.step(retries_allowed=True, max_attempts=4, interval_seconds=1.0)
async def reserve_inventory(sku: str, quantity: int) -> bool:
    async with httpx.AsyncClient(timeout=5.0) as client:
        response = await client.post(INVENTORY_URL, json={"sku": sku, "quantity": quantity})
    return response.status_code == 200


@DBOS.step(retries_allowed=True, max_attempts=3)
async def charge_card(order_id: str, amount_cents: int) -> str:
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.post("https://payments.internal/charge", json={"order": order_id, "amount": amount_cents})
    response.raise_for_status()
    return response.json()["receipt"]


@DBOS.step()
def send_receipt_email(order_id: str, receipt: str) -> None:
    DBOS.logger.info(f"receipt {receipt} sent for {order_id}")


@DBOS.workflow()
async def process_order(order_id: str, sku: str, quantity: int, amount_cents: int) -> str:
    await DBOS.set_event_async("status", "reserving")
    if not await reserve_inventory(sku, quantity):
        await DBOS.set_event_async("status", "out-of-stock")
        return "out-of-stock"
    receipt = await charge_card(order_id, amount_cents)
    send_receipt_email(order_id, receipt)
    await DBOS.set_event_async("status", "paid")
    return receipt


@app.post("/orders/{order_id}")
async def create_order(order_id: str, sku: str, quantity: int, amount_cents: int) -> dict:
    # The order id doubles as the workflow id, so a retried request joins the same workflow.
    with SetWorkflowID(order_id):
        handle = await DBOS.enqueue_workflow_async("orders", process_order, order_id, sku, quantity, amount_cents)
    return {"workflow_id": handle.get_workflow_id()}


@app.get("/orders/{order_id}")
async def order_status(order_id: str) -> dict:
    status = await DBOS.get_event_async(order_id, "status", timeout_seconds=0)
    return {"order_id": order_id, "status": status}


@app.get("/orders/{order_id}/result")
async def order_result(order_id: str) -> dict:
    handle = await DBOS.retrieve_workflow_async(order_id)
    return {"result": await handle.get_result()}
