"""An order service with the async mistakes dbos-lsp looks for.

Every marked line is wrong on purpose; examples/README.md explains each finding.
Run `dbos-lsp check examples/` to see them.
"""

import asyncio

from dbos import DBOS, SQLAlchemyDatasource
from sqlalchemy import text

from steps import charge_card, release_stock, reserve_stock, send_receipt

DBOS(config={"name": "order-service", "system_database_url": "sqlite:///orders.sqlite"})

orders_db = SQLAlchemyDatasource.create("sqlite:///orders_app.sqlite")


@orders_db.transaction()
def record_order(order_id: str, amount_cents: int) -> None:
    orders_db.sql_session().execute(
        text("INSERT INTO orders (id, amount_cents) VALUES (:id, :amount)"),
        {"id": order_id, "amount": amount_cents},
    )


@DBOS.workflow()
async def notify_warehouse(order_id: str) -> None:
    DBOS.logger.info(f"warehouse notified about {order_id}")


async def reserve_both(order_id: str) -> None:
    # Two steps, one after the other, in a helper coroutine.
    await reserve_stock(order_id, "widget")
    await reserve_stock(order_id, "gadget")


async def prepare_shipping_labels(order_id: str) -> None:
    await release_stock(order_id, "packing-slip")
    await reserve_stock(order_id, "label")


@DBOS.workflow()
async def checkout(order_id: str, amount_cents: int) -> str:
    # DBOS107: both helpers run several steps and are gathered concurrently.
    await asyncio.gather(reserve_both(order_id), prepare_shipping_labels(order_id))

    # DBOS109: a sync datasource transaction called straight from an async workflow.
    record_order(order_id, amount_cents)

    # DBOS101: the sync sleep raises RuntimeError inside the running event loop.
    DBOS.sleep(5)

    # DBOS102: the sync start_workflow blocks the event loop.
    handle = DBOS.start_workflow(notify_warehouse, order_id)

    charge_id = await charge_card(order_id, amount_cents)

    # DBOS104: the coroutine from send_async is created and never awaited.
    DBOS.send_async(handle.workflow_id, {"charge": charge_id}, topic="billing")

    # DBOS103: DBOS.sleep is not a coroutine function; awaiting its result fails.
    await DBOS.sleep(1)

    await send_receipt(order_id, charge_id)
    return charge_id
