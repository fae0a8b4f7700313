#!/bin/sh
# Runs inside a guest (busybox sh): holdscope's main job traces the whole system, told nothing about what runs, while
# the four seed workloads run one after another; then it is stopped as Ctrl-C would stop it. Its text report goes to
# the console, its JSON to /out/main.json (which the runner prints back to the host).
# Usage: main_job_guest.sh WORKLOAD_DIR
w=$1
holdscope --duration 100000 --top 20 --json /out/main.json >/tmp/main.txt 2>/tmp/main.err &
job=$!
# The job prints this line once its programs are attached: the workloads start only then.
until grep -q "tracing the whole system" /tmp/main.err; do
  kill -0 "$job" 2>/dev/null || { echo "the main job ended before tracing:"; cat /tmp/main.err; exit 1; }
  sleep 0.1
done
rc=0
"$w/migrate-prep" --rounds 20 --lockstep || rc=1
"$w/khugepaged-collapse" --regions 4 --timeout 60 || rc=1
"$w/anon-vma-clone" --limit 32 --forks 200 || rc=1
"$w/mlock-populate" --size 64 --rounds 2 || rc=1
kill -INT "$job"
wait "$job" || { echo "the main job failed"; rc=1; }
cat /tmp/main.err /tmp/main.txt
exit $rc
