"""DBOS 3 style: datasource transactions, queues and schedules registered after launch."""

import asyncio
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, AsyncSQLAlchemyDatasource, SQLAlchemyDatasource

orders_db = SQLAlchemyDatasource.create("postgresql://localhost/orders")
events_db = asyncio.run(AsyncSQLAlchemyDatasource.create("sqlite+aiosqlite:///events.sqlite"))


@orders_db.transaction()
def record_order(order_id: str, total_cents: int) -> None:
    orders_db.sql_session().execute(
        sa.text("INSERT INTO orders (id, total_cents) VALUES (:id, :total)"),
        {"id": order_id, "total": total_cents},
    )


@orders_db.transaction(isolation_level="READ COMMITTED")
def count_orders() -> int:
    return orders_db.sql_session().execute(sa.text("SELECT count(*) FROM orders")).scalar_one()


@events_db.transaction()
async def log_event(kind: str) -> None:
    await events_db.sql_session().execute(sa.text("INSERT INTO events (kind) VALUES (:kind)"), {"kind": kind})


@DBOS.workflow()
def place_order(order_id: str, total_cents: int) -> None:
    record_order(order_id, total_cents)
    DBOS.set_event("placed", True)


@DBOS.workflow()
def nightly_rollup(scheduled_time: datetime, context: Any) -> int:
    total = count_orders()
    DBOS.logger.info(f"{scheduled_time:%Y-%m-%d}: {total} orders")
    return total


@DBOS.workflow()
async def audit(kind: str) -> None:
    await log_event(kind)


def main() -> None:
    DBOS(
        config={
            "name": "orders-v3",
            "system_database_url": "postgresql://localhost/orders_dbos_sys",
            "application_version": "1.0.0",
        }
    )
    DBOS.launch()
    DBOS.register_queue("imports", worker_concurrency=2, global_concurrency=10)
    DBOS.apply_schedules(
        [{"schedule_name": "nightly-rollup", "workflow_fn": nightly_rollup, "schedule": "0 2 * * *"}]
    )
    DBOS.enqueue_workflow("imports", place_order, "A-1", 1999)


if __name__ == "__main__":
    main()
