import asyncio

from dbos import DBOS

from . import billing, notify
from .steps import charge_step


@DBOS.workflow()
async def fulfil(order_id: str) -> None:
    ack = notify.wait_for_ack(order_id)  # expect: DBOS101
    late = await asyncio.to_thread(notify.wait_for_ack, order_id)
    billing.after_payment(order_id)  # expect: DBOS102
    charge_step(order_id)  # a sync step: not followed from async code
    print(ack, late, notify.log_line(order_id))
