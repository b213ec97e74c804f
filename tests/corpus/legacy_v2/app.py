"""A DBOS 2.x application, unchanged since before the 3.0 upgrade."""

from dbos import DBOS, DBOSConfig, Queue
from fastapi import FastAPI

app = FastAPI()

config: DBOSConfig = {
    "name": "legacy-shop",
    "database_url": "postgresql://localhost/legacy",  # expect: DBOS608
    "admin_port": 3001,  # expect: DBOS608
}
DBOS(config=config, fastapi=app)  # expect: DBOS607

work_queue = Queue("work", concurrency=5, priority_enabled=True)  # expect: DBOS603, DBOS604, DBOS605


@DBOS.transaction()  # expect: DBOS601
def insert_order(order_id: str) -> None:
    DBOS.sql_session.execute("INSERT INTO orders VALUES (:id)", {"id": order_id})  # expect: DBOS602


@DBOS.workflow()
def place_order(order_id: str) -> None:
    insert_order(order_id)
    DBOS.set_event("placed", True)


@DBOS.scheduled("*/5 * * * *")  # expect: DBOS606
@DBOS.workflow()
def sweep(scheduled_time, actual_time) -> None:
    DBOS.logger.info(f"sweep at {scheduled_time}")


@app.post("/orders/{order_id}")
def create_order(order_id: str) -> dict:
    handle = work_queue.enqueue(place_order, order_id)
    return {"workflow_id": handle.get_workflow_id()}
