"""Class-based workflows: configured instances with their own state, registered before launch."""

from dbos import DBOS, DBOSConfiguredInstance


@DBOS.dbos_class()
class ReportGenerator(DBOSConfiguredInstance):
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        super().__init__(config_name=bucket)

    @DBOS.step()
    def fetch_rows(self, day: str) -> list[str]:
        return [f"{self.bucket}/{day}/row-{i}" for i in range(3)]

    @DBOS.step(retries_allowed=True, max_attempts=5)
    def upload(self, day: str, rows: list[str]) -> str:
        return f"s3://{self.bucket}/{day}.csv ({len(rows)} rows)"

    @DBOS.workflow()
    def nightly(self, day: str) -> str:
        rows = self.fetch_rows(day)
        DBOS.sleep(1)
        return self.upload(day, rows)

    @classmethod
    @DBOS.workflow()
    def describe(cls) -> str:
        return cls.__name__

    @staticmethod
    @DBOS.workflow()
    def ping() -> str:
        return "pong"


class Formatter:
    """Step-only classes need neither @DBOS.dbos_class() nor a configured instance."""

    @staticmethod
    @DBOS.step()
    def banner(text: str) -> str:
        return f"== {text} =="


eu_reports = ReportGenerator("reports-eu")
us_reports = ReportGenerator("reports-us")


def main() -> None:
    DBOS(config={"name": "reports", "system_database_url": "sqlite:///reports.sqlite"})
    DBOS.launch()
    handle = DBOS.start_workflow(eu_reports.nightly, "2026-11-26")
    print(Formatter.banner(handle.get_result()))
    print(us_reports.nightly("2026-11-26"))


if __name__ == "__main__":
    main()
