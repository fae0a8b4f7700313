#!/bin/sh
# Stands for a kernel developer's own workload in `compare -- CMD` (put into the guests with --add): a script that
# runs a program of theirs, here seed 004's workload.
# Usage: own_workload.sh WORKLOAD_DIR
exec "$1/mbind-migrate" --size 16 --rounds 2
