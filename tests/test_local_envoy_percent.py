"""Envoy reads an integer runtime value for a fractional percent as a whole percent out of 100
(above 100 means always): a 5% fault must be written as 5, not as parts per million."""

from harness.platform.local.envoy import fault_runtime


def test_percent_is_written_as_whole_percent() -> None:
    keys = fault_runtime("ner", abort_status=503, percent=5.0)
    assert keys["fault.ner.abort.percent"] == 5
    assert keys["fault.ner.delay.percent"] == 0
    keys = fault_runtime("ner", delay_ms=200, percent=50.0)
    assert keys["fault.ner.delay.percent"] == 50
    assert keys["fault.ner.delay.duration_ms"] == 200


def test_small_fraction_is_never_dropped_and_large_is_capped() -> None:
    assert fault_runtime("ner", abort_status=503, percent=0.4)["fault.ner.abort.percent"] == 1
    assert fault_runtime("ner", abort_status=503, percent=250)["fault.ner.abort.percent"] == 100
    assert fault_runtime("ner", abort_status=503, percent=0)["fault.ner.abort.percent"] == 0
