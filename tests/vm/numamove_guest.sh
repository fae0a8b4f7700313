#!/bin/sh
# Runs inside a 2-node guest booted with numa_balancing=disable (busybox sh). BCC's numamove and holdscope (the whole
# system, a stack per allocation) both trace while ka_numa makes NUMA balancing migrate its pages from node 0 to
# node 1; balancing is on only between the two tools being ready and ka_numa's end, so no hinting fault happens
# outside the window both watch. Everything but ka_numa's migrating thread runs on CPU 0 (node 0), where the memory
# it touches is local: only ka_numa's pages are misplaced. Prints numamove's total and the kernel's own count;
# holdscope's report goes to /out/numa.json.
# Usage: numamove_guest.sh KA_NUMA MIB
ka=$1 mib=$2
taskset -p 1 $$ >/dev/null
numamove >/tmp/nm.out 2>/tmp/nm.err &
nm=$!
# numamove is ready once its fentry and fexit programs are attached: two BPF link descriptors.
until [ "$(grep -l '^link_type' /proc/$nm/fdinfo/* 2>/dev/null | wc -l)" -ge 2 ]; do
  kill -0 $nm 2>/dev/null || { echo "NUMAMOVE-CANNOT-TRACE $(tail -n 1 /tmp/nm.err)"; exit 0; }
  sleep 0.1
done
holdscope record -o /tmp/numa.hsr --json /out/numa.json --exact-alloc-stacks --duration 100000 2>/tmp/hs.err &
hs=$!
until grep -q "tracing the whole system" /tmp/hs.err; do
  kill -0 $hs 2>/dev/null || { echo "holdscope ended before tracing:"; cat /tmp/hs.err; exit 1; }
  sleep 0.1
done
migrated() { awk '$1 == "numa_pages_migrated" { print $2 }' /proc/vmstat; }
before=$(migrated)
echo 1 >/proc/sys/kernel/numa_balancing
"$ka" "$mib"
rc=$?
echo 0 >/proc/sys/kernel/numa_balancing
after=$(migrated)
kill -INT $hs
wait $hs || { echo "holdscope failed:"; cat /tmp/hs.err; rc=1; }
kill -INT $nm
wait $nm
echo "NUMAMOVE-TOTAL $(awk '$2 ~ /^[0-9]+$/ { s += $2 } END { print s + 0 }' /tmp/nm.out)"
echo "VMSTAT-NUMA-PAGES-MIGRATED $((after - before))"
cat /tmp/nm.out
exit $rc
