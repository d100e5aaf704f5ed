"""Names shared by numbabench's asv suite (benchmarks/benchmarks/) and the report that reads it.

The suite itself lives in benchmarks/benchmarks/ (docs/asv.md); it is not part of the installed
package, so what both sides must spell alike lives here.
"""
#: the sidecar beside asv's results, one JSON record per line (a ".json" file there would be read
#: by asv as a results file and warned about on every publish/compare)
SIDECAR_SUFFIX = ".numbabench.jsonl"
SIDECAR_FORMAT = "numbabench-asv-env"
#: the benchmark parameter naming an implementation: a bare target for the article's way
#: (``cpu``), ``target:variant`` for any other variant (``cpu:tuned``)
TARGET_PARAM = "target"


def split_impl(value: str, default_variant: str = "article") -> tuple[str, str]:
    """``"cpu:tuned"`` -> (``"cpu"``, ``"tuned"``); a bare target is its article variant."""
    target, _, variant = str(value).partition(":")
    return target, variant or default_variant
