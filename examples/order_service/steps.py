"""Steps used by the checkout workflow in app.py (kept in their own module on purpose:
dbos-lsp has to follow the import to know they are async steps)."""

import random

from dbos import DBOS


@DBOS.step(retries_allowed=True, max_attempts=3)
async def reserve_stock(order_id: str, sku: str) -> bool:
    DBOS.logger.info(f"reserving {sku} for {order_id}")
    return True


@DBOS.step()
async def release_stock(order_id: str, sku: str) -> None:
    DBOS.logger.info(f"releasing {sku} for {order_id}")


@DBOS.step(retries_allowed=True)
async def charge_card(order_id: str, amount_cents: int) -> str:
    return f"ch_{order_id}_{random.randint(1000, 9999)}"


@DBOS.step()
async def send_receipt(order_id: str, charge_id: str) -> None:
    DBOS.logger.info(f"receipt for {order_id}: {charge_id}")
