import threading
import time

from shared.batching import GroupCommitter


class Pending:
    def __init__(self, *events):
        self.events = list(events)

    def collect_events(self):
        events, self.events = self.events, []
        return events


def test_queued_saves_share_one_transaction_and_a_bad_one_fails_alone():
    calls, durable = [], []
    first_entered, release = threading.Event(), threading.Event()

    def save(*events):
        calls.append(events)
        if len(calls) == 1:
            first_entered.set()
            release.wait(5)  # hold the first transaction so the others queue behind it
        if "bad" in events:
            raise ValueError("bad event" if len(events) == 1 else "batch refused")
        durable.extend(events)

    committer = GroupCommitter(save)
    committer.start()
    outcomes = {}

    def submit(name):
        try:
            committer.save(Pending(name))
            outcomes[name] = "saved"
        except ValueError as error:
            outcomes[name] = str(error)

    first = threading.Thread(target=submit, args=("a",))
    first.start()
    assert first_entered.wait(5)
    others = [threading.Thread(target=submit, args=(n,)) for n in ("b", "bad", "c")]
    for t in others:
        t.start()
    time.sleep(0.2)
    release.set()
    for t in [first, *others]:
        t.join(5)
    committer.close()

    assert outcomes == {"a": "saved", "b": "saved", "c": "saved", "bad": "bad event"}
    assert sorted(durable) == ["a", "b", "c"]
    assert sorted(calls[1]) == ["b", "bad", "c"]  # the queued three were tried together
