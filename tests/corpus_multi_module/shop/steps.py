from dbos import DBOS

from .pricing import fetch_rate, quote_expiry


@DBOS.step()
def rate_step(currency: str) -> float:
    return fetch_rate(currency)


@DBOS.step()
def expiry_step() -> float:
    return quote_expiry()
