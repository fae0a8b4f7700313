#!/bin/bash
# The HTML report in a real browser: records ka_contend, writes its page, opens it in headless Chromium and checks the
# DOM after the page's scripts ran (the page finished, no script error, flame-graph frames in both graphs, histogram
# bars), then keeps a screenshot under the build directory (a CI artifact).
# Usage: html_report.sh HOLDSCOPE KA_CONTEND OUT_DIR. Exit 77: skipped, with the reason.
set -euo pipefail
holdscope=$1 contend=$2 out=$3
[ "$(id -u)" = 0 ] || { echo "SKIP: recording needs root"; exit 77; }
browser=$(command -v chromium || true)
[ -n "$browser" ] || { echo "SKIP: no chromium (scripts/setup-deps.sh installs Debian's)"; exit 77; }
mkdir -p "$out"
"$holdscope" record -q -o "$out/contend.hsr" --html "$out/report.html" -- "$contend" 128 20

# --virtual-time-budget: the page's timers (d3's transitions) run to completion before the DOM is taken.
chrome=("$browser" --headless=new --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=5000)
"${chrome[@]}" --dump-dom "file://$out/report.html" 2>"$out/chromium.log" >"$out/report.dom.html"
"${chrome[@]}" --window-size=1280,2400 --screenshot="$out/html-report.png" "file://$out/report.html" 2>>"$out/chromium.log"

dom="$out/report.dom.html"
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; else echo "ok: $1"; fi; }
check "the page's script finished" "grep -q '<body data-rendered=\"1\"' '$dom'"
check "no script error" "! grep -o 'data-script-errors=\"[^\"]*\"' '$dom'"
frames() { python3 - "$dom" "$1" <<'PY'
import re, sys
dom = open(sys.argv[1]).read()
box = dom.split('id="%s"' % sys.argv[2], 1)[1].split('</section>', 1)[0]
print(len(re.findall(r'<g [^>]*class="frame', box)))
PY
}
check "hold-time flame graph has frames ($(frames flame-holds))" "[ $(frames flame-holds) -ge 3 ]"
check "allocation flame graph has frames ($(frames flame-allocs))" "[ $(frames flame-allocs) -ge 3 ]"
bars=$(grep -o 'class="bar"' "$dom" | wc -l)
check "histogram bars ($bars)" "[ $bars -ge 4 ]"
check "a mprotect frame in the hold-time graph" "grep -q 'name=\"do_mprotect_pkey\"' '$dom'"
check "nothing loaded from the network" "! grep -Eq '<(script|link|img)[^>]* (src|href)=' '$out/report.html'"
check "screenshot written" "[ -s '$out/html-report.png' ]"
echo "screenshot: $out/html-report.png"
exit $fail
