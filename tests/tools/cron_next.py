"""Next run times of cron expressions by croniter (pinned in tests/tools/requirements.txt),
the independent reference tests/it/cron_reference.rs holds apiphant's schedules to.

stdin:  JSON [{"expression": "*/5 * * * *", "after": "2026-01-01T00:00:00+00:00", "count": 12}]
stdout: JSON [{"times": ["2026-01-01T00:05:00+00:00", ...]} or {"error": "..."}], in order.
"""
import json
import sys
from datetime import datetime

from croniter import croniter


def next_times(case):
    try:
        start = datetime.fromisoformat(case["after"])
        it = croniter(case["expression"], start)
        return {"times": [it.get_next(datetime).isoformat() for _ in range(case["count"])]}
    except Exception as error:  # croniter's refusals have several types
        return {"error": f"{type(error).__name__}: {error}"}


json.dump([next_times(case) for case in json.load(sys.stdin)], sys.stdout)
