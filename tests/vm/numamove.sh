#!/usr/bin/env bash
# Cross-check with BCC's numamove (libbpf-tools), in a Debian 6.1 guest with 2 NUMA nodes: the NUMA-balancing
# migrations numamove counts (calls of migrate_misplaced_page, from its fentry/fexit programs) must equal, exactly,
# the page allocations holdscope sees inside migrate_misplaced_page (its migration targets, allocated in the hinting
# fault under mmap_lock), on the same run (tests/vm/numamove_guest.sh, fixture ka_numa). Exact, because every call
# that isolates its page allocates one target, and ka_numa drains the per-CPU LRU caches first so that every
# isolation succeeds. Times are not compared: holdscope does not time a migration.
# Only 6.1: Debian's numamove (0.26) attaches to migrate_misplaced_page, which later kernels renamed
# (migrate_misplaced_folio). Exit 77 (skipped) when the kernel, numamove, the static build or QEMU is missing.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/tests/vm/require.sh"
require_kernel 6.1
require_command numamove "Debian libbpf-tools"
numamove=$(command -v numamove)
require_static tests/ka_numa
require_qemu

mib=16
log=$(mktemp)
trap 'rm -f "$log"' EXIT
bash "$here/scripts/vm-run.sh" --timeout "${HOLDSCOPE_VM_TIMEOUT:-1500}" --numa 2 --add "$numamove" \
  --add "$here/tests/vm/numamove_guest.sh" --append numa_balancing=disable "$kernel" \
  -- sh "$here/tests/vm/numamove_guest.sh" "$here/build-static/tests/ka_numa" "$mib" >"$log" 2>&1
rc=$?
tr -d '\r' <"$log" | sed -n '/HOLDSCOPE-GUEST:/,/^HOLDSCOPE-FILE-BEGIN/p' | grep -a -v '^HOLDSCOPE-FILE-BEGIN'
if grep -a -q NUMAMOVE-CANNOT-TRACE "$log"; then
  echo "FAIL numamove could not trace in the 6.1 guest, where fentry attaches"; exit 1
fi
[ "$rc" = 0 ] || { echo "FAIL the guest run failed (exit $rc)"; exit 1; }
json=$(tr -d '\r' <"$log" | sed -n '/^HOLDSCOPE-FILE-BEGIN numa.json$/,/^HOLDSCOPE-FILE-END$/p' | sed '1d;$d' | base64 -d 2>/dev/null)
jq -e . >/dev/null 2>&1 <<<"$json" || { echo "FAIL holdscope's report did not come back"; exit 1; }
nm=$(tr -d '\r' <"$log" | sed -n 's/^NUMAMOVE-TOTAL \([0-9]*\)$/\1/p')
vmstat=$(tr -d '\r' <"$log" | sed -n 's/^VMSTAT-NUMA-PAGES-MIGRATED \([0-9]*\)$/\1/p')
hs=$(jq -r '[.allocations_under_lock[] | select(.kind == "page" and any(.stack[]; startswith("migrate_misplaced_page+"))) | .count] | add // 0' <<<"$json")
drops=$(jq -r '[.drops | to_entries[] | select(.value | type == "number") | .value] | add // 0' <<<"$json")
echo "NUMA-balancing migrations: numamove $nm calls; holdscope $hs target pages allocated in migrate_misplaced_page;" \
  "the kernel's numa_pages_migrated +$vmstat; holdscope drops $drops"
pass=0 fail=0
check() {  # check NAME CONDITION...
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; pass=$((pass + 1)); else echo "FAIL $name"; fail=$((fail + 1)); fi
}
pages=$((mib * 256))
check "holdscope lost no event" [ "$drops" = 0 ]
check "every page of ka_numa's region migrated, and holdscope saw each target allocated ($hs >= $pages)" [ "$hs" -ge "$pages" ]
check "numamove's count equals holdscope's, exactly ($nm = $hs)" [ "$nm" = "$hs" ]
check "the kernel migrated no more pages than were attempted ($vmstat <= $nm)" [ "$vmstat" -le "$nm" ]
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
