"""The scan on PySpark (local mode) gives the same run as on DuckDB."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, service_missing
from winback.ledger.presets import import_preset
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan import sample
from winback.scan.pipeline import run_scan


def _spark_available() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        service_missing("PySpark (uv sync --extra spark)")
    if shutil.which("java") is None:
        service_missing("Java 17 for PySpark")


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    return a == b


@pytest.mark.slow
# PySpark leaves the sockets of its result transfers to the garbage collector.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_spark_scan_equals_duckdb_scan_on_cdnow(tmp_path: Path) -> None:
    _spark_available()
    ledger = Ledger(tmp_path / "ledger")
    import_preset(ledger, "cdnow", EXAMPLES / "cdnow" / "CDNOW_sample.txt.gz", rejects_dir=tmp_path)

    duck = run_scan(ledger, tmp_path / "duck", Policy())
    spark = run_scan(ledger, tmp_path / "spark", Policy(), engine="spark")

    assert spark.info.models["engine"] == "spark"
    left = duck.customers().to_pylist()
    right = spark.customers().to_pylist()
    assert len(left) == len(right) == 2357
    differences = [
        (a["customer_id"], key, a[key], b[key])
        for a, b in zip(left, right, strict=True)
        for key in a
        if not _same(a[key], b[key])
    ]
    assert differences == []
    assert duck.info.counts == spark.info.counts
    assert duck.info.classifier == spark.info.classifier


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_sampled_backtest_runs_on_spark_as_on_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Above BACKTEST_CUSTOMERS the past cutoffs read a sample held in an Ibis memtable;
    # Spark's cache of a table joined with it never registered the memtable, so every
    # Spark scan of a ledger that big failed with TABLE_OR_VIEW_NOT_FOUND.
    _spark_available()
    monkeypatch.setattr(sample, "BACKTEST_CUSTOMERS", 1200)
    ledger = Ledger(tmp_path / "ledger")
    import_preset(ledger, "cdnow", EXAMPLES / "cdnow" / "CDNOW_sample.txt.gz", rejects_dir=tmp_path)

    duck = run_scan(ledger, tmp_path / "duck", Policy())
    spark = run_scan(ledger, tmp_path / "spark", Policy(), engine="spark")

    assert duck.info.backtest["sampled_customers"] == 1200
    assert spark.info.backtest["sampled_customers"] == 1200
    assert duck.info.backtest["test_rows"] == spark.info.backtest["test_rows"]
    assert duck.info.counts == spark.info.counts
    assert duck.info.classifier == spark.info.classifier


class _StartedError(Exception):
    """Raised by the stand-in session builder: the test needs only its arguments."""


def test_the_spark_engine_runs_on_the_workspace_s_spark_master(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # WINBACK_SPARK_MASTER reaches the Spark session (no JVM needed to see that).
    from winback import cycle
    from winback.scan import spark
    from winback.settings import Settings

    asked: list[tuple[str | None, str]] = []

    def session(
        app_name: str = "winback",
        cores: int = 2,
        master: str | None = None,
        driver_memory: str = "",
    ) -> None:
        asked.append((master, driver_memory))
        raise _StartedError

    monkeypatch.setattr(spark, "local_session", session)
    settings = Settings(
        home=tmp_path, spark_master="spark://spark-master:7077", spark_driver_memory="12g"
    )
    with pytest.raises(_StartedError):
        cycle.scan(settings, Policy(), engine="spark", sync_desk=False)
    with pytest.raises(_StartedError):
        run_scan(Ledger(tmp_path / "ledger"), tmp_path / "runs", Policy(), engine="spark")
    assert asked == [("spark://spark-master:7077", "12g"), (None, "4g")]
    assert Settings(home=tmp_path).spark_master == "local[2]"
    assert Settings(home=tmp_path).spark_driver_memory == "4g"


class _Builder:
    """Stands in for ``SparkSession.builder``: keeps the settings, starts no JVM."""

    def __init__(self) -> None:
        self.conf: dict[str, str] = {}

    def config(self, key: str, value: str) -> _Builder:
        self.conf[key] = value
        return self

    def master(self, _master: str) -> _Builder:
        return self

    def appName(self, _name: str) -> _Builder:  # noqa: N802 (PySpark's name)
        return self

    def getOrCreate(self) -> None:  # noqa: N802 (PySpark's name)
        raise _StartedError


def _session_conf(monkeypatch: pytest.MonkeyPatch, **kwargs: str) -> dict[str, str]:
    pyspark_sql = pytest.importorskip("pyspark.sql")
    from winback.scan.spark import local_session

    builder = _Builder()
    monkeypatch.setattr(pyspark_sql.SparkSession, "builder", builder)
    with pytest.raises(_StartedError):
        local_session(**kwargs)
    return builder.conf


def test_the_spark_driver_gets_room_for_a_large_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spark's own 1g driver heap and result limit failed a feature pass at 1M customers.
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    conf = _session_conf(monkeypatch)
    assert conf["spark.driver.memory"] == conf["spark.driver.maxResultSize"] == "4g"
    assert _session_conf(monkeypatch, driver_memory="16g")["spark.driver.memory"] == "16g"


def test_spark_s_own_configuration_of_the_driver_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A value passed to the builder would override spark-defaults.conf and PYSPARK_SUBMIT_ARGS.
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    (tmp_path / "spark-defaults.conf").write_text(
        "# driver\nspark.driver.maxResultSize   2g\nspark.executor.memory 8g\n"
    )
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--driver-memory 6g pyspark-shell")
    assert _session_conf(monkeypatch) == {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "4",
        "spark.ui.enabled": "false",
        "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.pyspark.fallback.enabled": "true",
    }
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--conf spark.driver.memory=6g pyspark-shell")
    assert "spark.driver.memory" not in _session_conf(monkeypatch)
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS")
    assert _session_conf(monkeypatch)["spark.driver.memory"] == "4g"
