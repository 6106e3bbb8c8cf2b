"""Run record -> HTML, Markdown and JSON reports, and baseline comparison."""

__all__: list[str] = []
