"""A research agent: an async workflow that plans, runs tools in parallel and streams progress."""

import asyncio

from dbos import DBOS


@DBOS.step(retries_allowed=True, max_attempts=3, backoff_rate=2.0)
async def call_model(prompt: str) -> str:
    await asyncio.sleep(0.1)  # stands in for a network call to a model provider
    return f"answer to {prompt!r}"


@DBOS.step(timeout_seconds=30)
async def run_tool(tool: str, question: str) -> str:
    return f"{tool}: notes about {question}"


@DBOS.workflow()
async def research_agent(question: str) -> str:
    await DBOS.write_stream_async("progress", "planning")
    plan = await call_model(f"which tools answer: {question}")
    tools = [t.strip() for t in plan.split(",") if t.strip()]
    # Every tool call is a step started in a fixed order; failures come back as values.
    results = await asyncio.gather(*[run_tool(t, question) for t in tools], return_exceptions=True)
    notes = [r for r in results if isinstance(r, str)]
    await DBOS.write_stream_async("progress", "waiting for approval")
    approval = await DBOS.recv_async("approval", timeout_seconds=3600)
    if approval != "yes":
        await DBOS.close_stream_async("progress")
        return "cancelled"
    answer = await call_model("summarize: " + " | ".join(notes))
    await DBOS.write_stream_async("progress", "done")
    await DBOS.close_stream_async("progress")
    return answer


@DBOS.workflow()
async def batch_research(questions: list[str]) -> list[str]:
    # Independent sequences run as child workflows, each with its own deterministic step order.
    handles = [await DBOS.start_workflow_async(research_agent, q) for q in questions]
    return [await h.get_result() for h in handles]


async def main() -> None:
    DBOS(config={"name": "research-agent", "system_database_url": "sqlite:///agent.sqlite"})
    DBOS.launch()
    handle = await DBOS.start_workflow_async(research_agent, "why is the sky blue")
    workflow_id = handle.get_workflow_id()
    async for update in DBOS.read_stream_async(workflow_id, "progress", timeout_seconds=60):
        print(update)
        if update == "waiting for approval":
            await DBOS.send_async(workflow_id, "yes", "approval")
    print(await handle.get_result())


if __name__ == "__main__":
    asyncio.run(main())
