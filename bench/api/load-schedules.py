#!/usr/bin/env python3
"""Creates N workflows, each with a schedule, through the API (keep-alive),
for the GET /api/schedules benchmark. Ten expressions and zones in turn;
none fires within the benchmark's minutes.

    load-schedules.py PORT TOKEN N
"""
import http.client
import json
import sys

port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
crons = ["0 9 * * 1-5", "30 2 * * *", "0 0 1 * *", "15 10 * * 6", "0 */6 * * *",
         "0 0 29 2 *", "45 23 L * *", "0 8 ? * MON#1", "0 12 * * 0", "5 4 * * *"]
zones = ["UTC", "Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe"]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}


def call(method, path, body):
    c.request(method, path, body=json.dumps(body), headers=h)
    r = c.getresponse()
    doc = json.loads(r.read())
    if r.status >= 300:
        sys.exit("load-schedules: %s %s: %d %s" % (method, path, r.status, doc))
    return doc


wf = {"name": "bench", "nodes": [{"id": "start", "type": "trigger"},
                                 {"id": "say", "type": "action", "action": "log_message", "params": {"message": "hi"}}],
      "edges": [{"from": "start", "to": "say"}]}
for i in range(n):
    w = call("POST", "/api/workflows", wf)
    call("POST", "/api/workflows/%d/schedule" % w["id"],
         {"cron": crons[i % len(crons)], "timezone": zones[i % len(zones)], "overlap_policy": "skip"})
