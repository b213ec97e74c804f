"""An async fulfilment workflow: durable sleep, concurrent single steps, and events."""

import asyncio

from dbos import DBOS


@DBOS.step(retries_allowed=True)
async def check_inventory(sku: str) -> int:
    return len(sku)


@DBOS.step(retries_allowed=True)
async def check_fraud(customer_id: str) -> bool:
    return not customer_id.startswith("blocked-")


@DBOS.step()
async def book_courier(order_id: str) -> str:
    return f"courier-{order_id}"


@DBOS.workflow()
async def fulfil(order_id: str, sku: str, customer_id: str) -> str:
    await DBOS.set_event_async("stage", "checking")
    # One step per coroutine: the gathered steps start in argument order.
    stock, ok = await asyncio.gather(check_inventory(sku), check_fraud(customer_id), return_exceptions=True)
    if isinstance(stock, BaseException) or isinstance(ok, BaseException) or not ok:
        await DBOS.set_event_async("stage", "rejected")
        return "rejected"
    if stock == 0:
        # Wait for a restock without holding a worker; the sleep is durable.
        await DBOS.sleep_async(60)
    await DBOS.set_event_async("stage", "booking")
    courier = await book_courier(order_id)
    await DBOS.set_event_async("stage", "done")
    return courier


async def watch(order_id: str) -> str:
    handle = await DBOS.start_workflow_async(fulfil, order_id, "sku-1", "cust-1")
    stage = await DBOS.get_event_async(handle.workflow_id, "stage", timeout_seconds=10)
    DBOS.logger.info(f"{order_id} reached {stage}")
    return await handle.get_result()
