-- Department inboxes and the dispatch queue (services/routing/inbox.py): a projection of
-- routing's log — each assignment's status, rung of the ladder and, when no rule covered it,
-- why it waits for a person; beside it each department's part. Rows carry the assignment
-- version they show (shared/projection.py never writes an older one over a newer).
CREATE TABLE inbox_cases (
    id uuid PRIMARY KEY,
    version integer NOT NULL,
    status text NOT NULL,
    level text NOT NULL,
    category text,
    restricted boolean NOT NULL,
    manual_reason text
);
CREATE INDEX inbox_cases_manual ON inbox_cases (id) WHERE manual_reason IS NOT NULL;

CREATE TABLE inbox_parties (
    id uuid NOT NULL,
    department text NOT NULL,
    role text NOT NULL,
    state text NOT NULL,
    since timestamptz NOT NULL,
    objection_due timestamptz NOT NULL,
    handler text,
    PRIMARY KEY (id, department)
);
CREATE INDEX inbox_parties_department ON inbox_parties (department, since DESC, id DESC);
