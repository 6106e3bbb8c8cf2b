"""Load generation: Locust users, load shapes, open-loop arrivals, runner and latency stats."""

__all__: list[str] = []
