"""Load generation: Locust users, load shapes, open-loop arrivals, runner and latency stats.

    plan = plan_load(scenario["load"], platform.endpoints(), seed=7)
    result = run_planned(plan, record=record)     # load_bucket / load_summary events
    result.summary("ner").event_fields()["p99_ms"]

Importing this package never imports gevent or Locust: the generator brings gevent up in its
own thread or worker process, and Locust (which monkey-patches) only runs in a process of its
own (:mod:`loadtests.users`, :mod:`loadtests.stock`, and for ``engine: locust``
:mod:`loadtests.locust_runner` or :mod:`loadtests.locust_dist`'s master and workers).
"""

from loadtests.arrivals import Schedule, build_schedule
from loadtests.plan import LoadPlan, load_duration_s, plan_load, run_planned, run_spec
from loadtests.routes import Target, build_targets, load_routes
from loadtests.runner import LoadResult, ProcessWorkers, ThreadWorkers, WorkerPool, run_load
from loadtests.search import SearchResult, find_max_rate
from loadtests.settings import LoadSettings
from loadtests.shapes import LoadShape, shape_from_spec

__all__ = [
    "LoadPlan",
    "LoadResult",
    "LoadSettings",
    "LoadShape",
    "ProcessWorkers",
    "Schedule",
    "SearchResult",
    "Target",
    "ThreadWorkers",
    "WorkerPool",
    "build_schedule",
    "build_targets",
    "find_max_rate",
    "load_duration_s",
    "load_routes",
    "plan_load",
    "run_load",
    "run_planned",
    "run_spec",
    "shape_from_spec",
]
