from shop.notify import log_line, send_receipt


def after_payment(order_id: str) -> str:
    send_receipt(order_id)
    return log_line(order_id)
