-- What the statistics count, as typed rows beside the ledger (services/followup/ledger.py,
-- `PostgresLedger`): one row per registered case, and one per time the petitioner came
-- again or a deadline was missed. Written with the case's ledger row, in the same
-- transaction. Counting them is a scan of narrow rows of the period's cases, where reading
-- the same facts out of each case's `facts` document cost ~3 times as much (100,000 cases:
-- 130 ms against ~45 ms), and the repeats and breaches of a period are an index range.
CREATE TABLE ledger_facts (
    id uuid PRIMARY KEY,
    registered_at timestamptz NOT NULL,
    lead text,
    path text[] NOT NULL,
    declined boolean NOT NULL,
    notice_due timestamptz,
    notice_met timestamptz,
    outcome boolean NOT NULL,
    outcome_on_time boolean NOT NULL,
    closed_out boolean NOT NULL,
    satisfaction text,
    rated boolean NOT NULL,
    ceased boolean NOT NULL,
    repeat_after_outcome boolean NOT NULL,
    first_round_settled_at_window boolean NOT NULL
);
CREATE INDEX ledger_facts_registered ON ledger_facts (registered_at);

CREATE TABLE ledger_moments (
    id uuid NOT NULL,
    registered_at timestamptz NOT NULL,
    lead text,
    path text[] NOT NULL,
    breach text,  -- the kind of deadline missed; none: the petitioner came again
    at timestamptz NOT NULL,
    written text NOT NULL  -- `at` as its event wrote it: a repeat counts in the month it names
);
CREATE INDEX ledger_moments_case ON ledger_moments (id);
CREATE INDEX ledger_moments_at ON ledger_moments (at);

-- the cases the ledger already holds, from their facts
INSERT INTO ledger_facts
SELECT c.id, c.registered_at, nullif(f.lead, ''), c.path, f.declined, f.notice_due, f.notice_met,
       f.first_outcome_at IS NOT NULL, f.outcome_on_time, f.closed_out, f.satisfaction, f.rated,
       f.ceased, f.repeat_after_outcome, f.first_round_settled_at_window
  FROM ledger_cases AS c,
       jsonb_to_record(c.facts) AS f(
           lead text, declined boolean, notice_due timestamptz, notice_met timestamptz,
           first_outcome_at text, outcome_on_time boolean, closed_out boolean,
           satisfaction text, rated boolean, ceased boolean, repeat_after_outcome boolean,
           first_round_settled_at_window boolean)
 WHERE c.registered_at IS NOT NULL;

INSERT INTO ledger_moments
SELECT c.id, c.registered_at, nullif(c.facts->>'lead', ''), c.path, NULL, r::timestamptz, r
  FROM ledger_cases AS c, jsonb_array_elements_text(c.facts->'repeats') AS r
 WHERE c.registered_at IS NOT NULL
UNION ALL
SELECT c.id, c.registered_at, nullif(c.facts->>'lead', ''), c.path, b->>0, (b->>1)::timestamptz,
       b->>1
  FROM ledger_cases AS c, jsonb_array_elements(c.facts->'breaches') AS b
 WHERE c.registered_at IS NOT NULL;
