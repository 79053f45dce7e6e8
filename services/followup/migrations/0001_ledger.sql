-- The work ledger (services/followup/ledger.py): a projection of follow-up's log — each
-- case's next alarm, case-code hash, the units an accusation bars, and the facts the
-- statistics count; beside it the deadlines still running. Rows carry the case version
-- they show (shared/projection.py never writes an older one over a newer).
CREATE TABLE ledger_cases (
    id uuid PRIMARY KEY,
    version integer NOT NULL,
    status text NOT NULL,
    next_alarm timestamptz,
    code_hash text,
    barred text[] NOT NULL,
    subject text,
    registered_at timestamptz,
    active_until timestamptz,
    breach_kinds text[] NOT NULL,
    facts jsonb NOT NULL
);
-- what the clock asks every second: the few cases with an alarm due
CREATE INDEX ledger_cases_alarm ON ledger_cases (next_alarm) WHERE next_alarm IS NOT NULL;
CREATE INDEX ledger_cases_code ON ledger_cases (code_hash) WHERE code_hash IS NOT NULL;
-- statistics of a period read the cases registered before its end and active since its start
CREATE INDEX ledger_cases_active ON ledger_cases (active_until, registered_at);
CREATE INDEX ledger_cases_breached ON ledger_cases (id) WHERE cardinality(breach_kinds) > 0;

CREATE TABLE ledger_deadlines (
    id uuid NOT NULL,
    deadline text NOT NULL,
    kind text NOT NULL,
    due_at timestamptz NOT NULL,
    department text,
    responsible text,
    paused boolean NOT NULL,
    breached_at timestamptz,
    PRIMARY KEY (id, deadline)
);
CREATE INDEX ledger_deadlines_due ON ledger_deadlines (due_at);
CREATE INDEX ledger_deadlines_department ON ledger_deadlines (department, due_at);
