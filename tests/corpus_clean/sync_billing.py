"""A synchronous billing app: sync workflows, a datasource transaction, messages."""

from dbos import DBOS, SQLAlchemyDatasource
from sqlalchemy import text

DBOS(config={"name": "billing", "system_database_url": "sqlite:///billing.sqlite"})

ledger = SQLAlchemyDatasource.create("sqlite:///ledger.sqlite")
INVOICES = "invoices"


@ledger.transaction()
def post_entry(account: str, cents: int) -> None:
    ledger.sql_session().execute(
        text("INSERT INTO entries (account, cents) VALUES (:a, :c)"), {"a": account, "c": cents}
    )


@DBOS.step()
def render_invoice(account: str, cents: int) -> str:
    return f"invoice for {account}: {cents / 100:.2f}"


@DBOS.workflow()
def bill(account: str, cents: int) -> str:
    post_entry(account, cents)
    body = render_invoice(account, cents)
    approval = DBOS.recv("approval", timeout_seconds=3600)
    if approval != "ok":
        return "cancelled"
    DBOS.sleep(1)
    DBOS.set_event("invoice", body)
    return body


def bill_all(accounts: dict[str, int]) -> list[str]:
    handles = [DBOS.enqueue_workflow(INVOICES, bill, account, cents) for account, cents in accounts.items()]
    for h in handles:
        DBOS.send(h.workflow_id, "ok", "approval")
    return [h.get_result() for h in handles]


if __name__ == "__main__":
    DBOS.launch()
    DBOS.register_queue(INVOICES, worker_concurrency=2)
    print(bill_all({"acme": 1250, "globex": 990}))
