-- A deadline whose breach fired before its reminder went out (the service was down over
-- both) kept that reminder as its case's next alarm, so follow-up's clock looked at the case
-- every second, for ever (`Deadline.next_alarm` in services/followup/domain/clocks.py). The
-- ledger is a projection of follow-up's log: emptied with its position here, it is projected
-- again when the service starts, each case's next alarm as it is computed now. (A large
-- store: run `onestop projections rebuild followup` first, or the first start takes longer.)
DELETE FROM ledger_deadlines;
DELETE FROM ledger_cases;
DELETE FROM projection_position WHERE name = 'ledger';
