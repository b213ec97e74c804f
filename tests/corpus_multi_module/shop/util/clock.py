import time
from datetime import datetime, timezone


def now() -> float:
    return time.time()


def today_label() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def cents(amount: float) -> int:
    return round(amount * 100)
