#!/bin/sh
# The REST API over real HTTP on loopback: tests/tools/api_test.py starts
# `cronflow serve` ($CRONFLOW) on a fresh data directory and checks every
# endpoint (authentication, organizations, roles, bad input, sessions,
# webhooks, executions, schedules end to end). It prints its own
# "SUMMARY: N passed, M failed" line.
set -u
: "${CRONFLOW:?CRONFLOW must name the cronflow binary}"
top=$(cd "$(dirname "$0")/../.." && pwd)
exec timeout 300 python3 "$top/tests/tools/api_test.py"
