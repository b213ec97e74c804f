from dbos import DBOS

from .billing import after_payment
from .pricing import fetch_rate, quote_expiry


@DBOS.step()
def rate_step(currency: str) -> float:
    return fetch_rate(currency)


@DBOS.step()
def expiry_step() -> float:
    return quote_expiry()


@DBOS.step()
def charge_step(order_id: str) -> str:
    return after_payment(order_id)  # expect: DBOS301
