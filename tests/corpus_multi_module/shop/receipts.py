from dbos import DBOS


@DBOS.workflow()
def email_receipt(order_id: str) -> None:
    DBOS.sleep(1)
