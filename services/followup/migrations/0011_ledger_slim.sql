-- The statistics count from their own typed rows (0009: ledger_facts, ledger_moments), so
-- each case's row keeps only what the ledger's queries read. The facts as JSON were two
-- thirds of the row (531 of 804 bytes on average over 157,000 cases), written again with
-- every event of the case, with two indexes of their own.
ALTER TABLE ledger_cases
    DROP COLUMN facts,
    DROP COLUMN registered_at,
    DROP COLUMN active_until,
    DROP COLUMN breach_kinds;

-- The gauges count missed deadlines by kind from the moments (services/followup/ledger.py,
-- `gauges`), from this index alone.
CREATE INDEX ledger_moments_breach ON ledger_moments (breach) WHERE breach IS NOT NULL;
