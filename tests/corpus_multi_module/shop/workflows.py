from dbos import DBOS

from shop.pricing import quote_expiry, total

from . import pricing
from .steps import expiry_step, rate_step
from .util import clock


@DBOS.workflow()
def checkout(amount: float, currency: str) -> dict:
    expires = quote_expiry()  # expect: DBOS201
    rate = pricing.fetch_rate(currency)  # expect: DBOS202
    label = clock.today_label()  # expect: DBOS201
    pricing.record_quote()  # expect: DBOS204
    return {"total": total(amount), "expires": expires, "rate": rate, "label": label}


@DBOS.workflow()
def durable_checkout(amount: float, currency: str) -> dict:
    expires = expiry_step()
    rate = rate_step(currency)
    return {"total": total(amount) * rate, "expires": expires}
