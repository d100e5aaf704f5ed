"""numbabench's airspeed-velocity suite (docs/asv.md): benchmark_dir of asv.conf.json.

common.py (what the modules share), prepared.py (the prepared measurement), sidecar.py (the
GPU/versions note beside asv's results), bench_techniques.py (the classes, built from the registry).
"""
