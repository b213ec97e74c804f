from dbos import DBOS

from .receipts import email_receipt


def send_receipt(order_id: str) -> None:
    DBOS.start_workflow(email_receipt, order_id)


def wait_for_ack(order_id: str) -> str | None:
    return DBOS.recv(f"ack-{order_id}", timeout_seconds=30)


def log_line(order_id: str) -> str:
    return f"order {order_id}"
