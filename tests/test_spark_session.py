"""The Spark session's settings: sized for small machines in local mode."""

from __future__ import annotations

from streamrec.model.spark_session import spark_settings


def test_local_settings_are_sized_for_small_machines() -> None:
    settings = spark_settings("local[2]", None, {"spark.executor.memory": "1g"})
    assert settings["spark.sql.shuffle.partitions"] == "4"
    assert settings["spark.ui.enabled"] == "false"
    assert settings["spark.executor.memory"] == "1g"
    assert "spark.sql.shuffle.partitions" not in spark_settings("yarn", "4g", None)
