"""Benchmark JSON of pytest-benchmark and pyperf, as those tools write it."""

from __future__ import annotations

from runner.verify.benchjson import round_seconds

PYTEST_BENCHMARK = {
    "machine_info": {"python_version": "3.11.7"},
    "benchmarks": [
        {"name": "test_a", "stats": {"min": 0.001, "median": 0.002, "mean": 0.0021}},
        {"name": "test_b", "stats": {"min": 0.003, "median": 0.004, "mean": 0.0041}},
    ],
    "version": "4.0.0",
}
PYPERF = {
    "version": "1.0",
    "metadata": {"name": "lookup"},
    "benchmarks": [
        {
            "runs": [
                {"metadata": {"calibrate_loops": 16}, "warmups": [[16, 0.5]]},
                {"warmups": [[16, 0.01]], "values": [0.010, 0.012, 0.011]},
                {"warmups": [[16, 0.01]], "values": [0.013, 0.009, 0.011]},
            ]
        }
    ],
}


def test_pytest_benchmark_sums_the_medians() -> None:
    assert round_seconds(PYTEST_BENCHMARK) == 0.006


def test_pyperf_takes_the_median_of_values_without_warmups() -> None:
    assert round_seconds(PYPERF) == 0.011


def test_unknown_documents_give_none() -> None:
    assert round_seconds({}) is None
    assert round_seconds({"benchmarks": []}) is None
    assert round_seconds({"benchmarks": [{"runs": [{"warmups": [[1, 0.1]]}]}]}) is None
    assert round_seconds({"benchmarks": [{"stats": {"median": "fast"}}]}) is None
