"""`make bench`: OneStop's throughput and latency beside raw PostgreSQL and Kafka baselines.

`pipeline` runs the steps in order and writes docs/benchmarks.md; `baselines` measures the raw
engines, `steps` the services, with the load from `load` (on the lean client in `wire`);
`topics` reads Kafka, `host` the machine, and `report` puts the figures together. It is run
from a checkout (`python -m bench.pipeline`), never installed.
"""
