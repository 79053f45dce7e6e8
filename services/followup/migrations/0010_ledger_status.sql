-- Cases by status, for the gauges on /metrics (services/followup/ledger.py, `gauges`):
-- counted from this index alone, not by reading every case's row (at a million cases, a
-- gigabyte read every `gauges_seconds`, pushing what the queries read out of memory).
CREATE INDEX ledger_cases_status ON ledger_cases (status);
