"""The Spark side of a training run: checks for pyspark and Java, the session and its JVM.

:func:`_session` starts a SparkSession whose JVM writes its console output to a log file (not
to the terminal of the command that trains) and ends that JVM on exit, so that the next run
starts a fresh one with its own settings; :func:`spark_settings` are the settings of such a
short batch job. Used by :mod:`streamrec.model.spark`; nothing here needs pyspark to import.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

_LOCAL_MASTER = re.compile(r"^local(\[(\d+|\*)(,\d+)?\])?$")


class SparkUnavailableError(RuntimeError):
    """pyspark or Java is missing, or the Spark driver could not start."""


def _require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise SparkUnavailableError(
            "the spark engine needs pyspark: pip install -r requirements-spark.txt"
        ) from exc
    with warnings.catch_warnings():
        # pyspark's py4j argument converters import these helpers on the first call into the
        # JVM, and the import warns once that pandas >= 3 is not fully supported. Nothing here
        # converts to or from pandas (results come back as Arrow), so import them quietly now.
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        import pyspark.testing.utils  # noqa: F401


def _require_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return
    if shutil.which("java") is None:
        raise SparkUnavailableError(
            "the spark engine needs Java 17 or newer: install a JDK and put java on PATH "
            f"or set JAVA_HOME (JAVA_HOME={java_home!r})"
        )


def _new_log_file() -> Path:
    fd, name = tempfile.mkstemp(prefix="streamrec-spark-", suffix=".log")
    os.close(fd)
    return Path(name)


def _is_local(master: str) -> bool:
    return _LOCAL_MASTER.match(master) is not None


def spark_settings(
    master: str, driver_memory: str | None, extra: Mapping[str, str] | None
) -> dict[str, str]:
    """Spark settings for a short batch job: small shuffles in local mode, no UI, quiet console.

    Examples
    --------
    >>> spark_settings("local[2]", "4g", None)["spark.sql.shuffle.partitions"]
    '4'
    """
    memory = driver_memory or os.environ.get("SPARK_DRIVER_MEMORY") or "2g"
    settings = {
        "spark.master": master,
        "spark.app.name": "streamrec-als",
        "spark.driver.memory": memory,
        # Collecting more than the driver holds fails anyway; fail with Spark's clear error.
        "spark.driver.maxResultSize": memory,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # Every column is selected, so pruning cannot hide a row with a wrong field count.
        "spark.sql.csv.parser.columnPruning.enabled": "false",
    }
    if _is_local(master):
        settings.update(
            {
                # The default of 200 shuffle partitions is for clusters; 2 per core is plenty.
                "spark.sql.shuffle.partitions": str(2 * _local_cores(master)),
                "spark.default.parallelism": str(_local_cores(master)),
                "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1",
            }
        )
    settings.update(extra or {})
    return settings


def _local_cores(master: str) -> int:
    match = _LOCAL_MASTER.match(master)
    cores = match.group(2) if match else None
    if cores is None:
        return 1
    if cores == "*":
        return os.cpu_count() or 1
    return max(int(cores), 1)


@contextmanager
def _session(
    master: str,
    driver_memory: str | None,
    extra: Mapping[str, str] | None,
    log_file: Path,
) -> Iterator[SparkSession]:
    """A SparkSession whose JVM writes to ``log_file``; stopped, and its JVM ended, on exit."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is not None:
        raise SparkUnavailableError(
            "a SparkContext is already running in this process; stop it before training"
        )
    conf = SparkConf(loadDefaults=False).setAll(
        list(spark_settings(master, driver_memory, extra).items())
    )
    gateway = None
    with log_file.open("ab") as log:
        try:
            # Our own gateway, so that Spark's console output goes to the log file, not to the
            # terminal of the command that trains.
            gateway = launch_gateway(conf, popen_kwargs={"stdout": log, "stderr": log})
            context = SparkContext(conf=conf, gateway=gateway)
        except Exception as exc:
            _shutdown_gateway(gateway)
            raise SparkUnavailableError(
                f"cannot start Spark with master {master!r}: {_first_line(exc)} "
                f"(Spark log: {log_file})"
            ) from exc
    context.setLogLevel("WARN")
    spark = SparkSession(context)
    logger.info("Spark %s started on %s; its log is %s", spark.version, master, log_file)
    checkpoints = None
    if _is_local(master) and "spark.checkpoint.dir" not in (extra or {}):
        # ALS checkpoints every 10 iterations when a folder is set, keeping lineages short
        # (on a cluster, pass spark.checkpoint.dir on a shared file system).
        checkpoints = tempfile.mkdtemp(prefix="streamrec-spark-ckpt-")
        context.setCheckpointDir(checkpoints)
    try:
        yield spark
    finally:
        spark.stop()
        _shutdown_gateway(gateway)
        if checkpoints:
            shutil.rmtree(checkpoints, ignore_errors=True)


def _shutdown_gateway(gateway: Any) -> None:
    """End the JVM behind ``gateway``, so a later run starts a fresh one with its own settings.

    pyspark keeps the gateway in class attributes of SparkContext and reuses it for every
    later context; resetting them is what pyspark's own test suites do between sessions.
    """
    from pyspark import SparkContext

    if gateway is None:
        return
    proc = getattr(gateway, "proc", None)  # None when spark-submit started the JVM
    try:
        gateway.shutdown()
    finally:
        if SparkContext._gateway is gateway:
            SparkContext._gateway = None
            SparkContext._jvm = None
        if proc is not None:
            proc.stdin.close()  # the JVM exits when its stdin closes
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _is_spark_error(exc: BaseException) -> bool:
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    return isinstance(exc, Py4JError | PySparkException)


def _first_line(exc: BaseException) -> str:
    """The first line of an error; for a raw Java error, of the Java exception (the JVM must
    still be running)."""
    text = str(exc)
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            text = str(java.toString())
        except Exception:  # the JVM is gone: keep py4j's own text
            pass
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
