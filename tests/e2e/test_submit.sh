# test_submit.sh - `mbatch submit JOB.json --dry-run` renders the sbatch command (no schedule, a
# single time -> --begin in local time) or the scrontab entry (recurring, cron accepted; UTC
# moved to local time), and refuses malformed schedules with exit 1 and a message quoting them.
# Zones: UTC and Asia/Kolkata (UTC+05:30, no daylight saving, so the answers never change).
source "$(dirname "$0")/lib.sh"

script=$SRC_DIR/slurm/train.sbatch
here=$(pwd -P)
# submit TZ SCHEDULE [ARGS...]: a job with that schedule (none when empty), rendered.
submit() {
    local tz=$1 sched=$2
    shift 2
    if [ -n "$sched" ]; then
        job j.json "{\"name\": \"nightly\", \"dataset\": {\"path\": \"d.h5\"},
            \"schedule\": \"$sched\"}"
    else
        job j.json '{"name": "nightly", "dataset": {"path": "d.h5"}}'
    fi
    TZ=$tz "$MBATCH" submit j.json --dry-run --script "$script" "$@" >out.txt 2>err.txt
}
# same EXPECTED: out.txt equals EXPECTED, line by line.
same() {
    if [ "$(cat out.txt)" != "$1" ]; then
        printf 'expected:\n%s\ngot:\n' "$1" >&2
        cat out.txt err.txt >&2
        fail "rendering differs"
    fi
}
# cron TZ SCHEDULE LINE: the entry's last line (the cron line) starts with LINE.
cron() {
    submit "$1" "$2"
    local last
    last=$(tail -1 out.txt)
    [ "$last" = "$3 MBATCH=$MBATCH_REAL $script $here/j.json" ] ||
        { cat out.txt err.txt >&2; fail "'$2' in $1: cron line '$last', expected '$3 ...'"; }
    echo "ok: $1: '$2' -> $3"
}
MBATCH_REAL=$(readlink -f "$MBATCH")

# No schedule: sbatch now; --set and --sbatch pass through; --ntasks.
submit UTC "" --ntasks 2 --set epochs=3 --sbatch "--time=0:10:00"
same "sbatch --job-name=nightly --ntasks=2 --time=0:10:00 $script j.json --set epochs=3"
echo "ok: no schedule: $(cat out.txt)"

# One time -> --begin, local time.
submit UTC "2026-12-01T02:00Z"
same "# once, at 2026-12-01 02:00:00 UTC (schedule \"2026-12-01T02:00Z\")
sbatch --job-name=nightly --begin=2026-12-01T02:00:00 $script j.json"
submit Asia/Kolkata "2026-12-01T02:00Z"
grep -qx "sbatch --job-name=nightly --begin=2026-12-01T07:30:00 $script j.json" out.txt ||
    { cat out.txt >&2; fail "UTC time not moved to Asia/Kolkata"; }
submit UTC "2026-12-01 02:00:00 +01:00"
grep -q -- "--begin=2026-12-01T01:00:00 " out.txt || { cat out.txt >&2; fail "+01:00 zone"; }
submit Asia/Kolkata "2026-12-01T02:00"
grep -q -- "--begin=2026-12-01T02:00:00 " out.txt || { cat out.txt >&2; fail "local time kept"; }
submit UTC "2026-12-01"
grep -q -- "--begin=2026-12-01T00:00:00 " out.txt || { cat out.txt >&2; fail "date only"; }
echo "ok: single times -> sbatch --begin"

# Recurring -> a scrontab entry; the whole entry once, then the cron lines.
submit UTC "daily @ 02:00 UTC" --ntasks 2
same "# mbatch submit: nightly
# every day at 02:00 UTC (schedule \"daily @ 02:00 UTC\")
#SCRON --job-name=nightly
#SCRON --ntasks=2
#SCRON --cpus-per-task=1
#SCRON --chdir=$here
#SCRON --output=nightly-%j.out
#SCRON --open-mode=append
#SCRON --signal=B:USR1@60
0 2 * * * MBATCH=$MBATCH_REAL $script $here/j.json"
cron Asia/Kolkata "daily @ 02:00 UTC" "30 7 * * *"
cron Asia/Kolkata "daily @ 20:00 UTC" "30 1 * * *"
cron Asia/Kolkata "weekly on sunday @ 22:00 UTC" "30 3 * * 1"
cron Asia/Kolkata "hourly @ :45 UTC" "15 * * * *"
cron Asia/Kolkata "daily @ 02:00" "0 2 * * *"
cron UTC "hourly" "0 * * * *"
cron UTC "daily" "0 0 * * *"
cron UTC "weekly" "0 0 * * 0"
cron UTC "Weekly on Fri at 18:05" "5 18 * * 5"
cron UTC "monthly" "0 0 1 * *"
cron UTC "monthly on 15 @ 03:00" "0 3 15 * *"
cron UTC "quarterly" "0 0 1 1,4,7,10 *"
cron UTC "quarterly on 2 @ 06:00 UTC" "0 6 2 1,4,7,10 *"
cron UTC "yearly" "0 0 1 1 *"
cron UTC "@daily" "0 0 * * *"
cron UTC "0 2 * * *" "0 2 * * *"
cron UTC "*/15 9-17 * jan,jul mon-fri" "*/15 9-17 * 1,7 1-5"
cron UTC "30 4 1,15 * *" "30 4 1,15 * *"

# Refusals: exit 1, a message naming the schedule and what is wrong.
refuse() {
    local tz=$1 sched=$2 pattern=$3 rc=0
    submit "$tz" "$sched" || rc=$?
    [ "$rc" -eq 1 ] || { cat out.txt err.txt >&2; fail "schedule '$sched': exit $rc, expected 1"; }
    grep -q -- "$pattern" err.txt || { cat err.txt >&2; fail "schedule '$sched': no '$pattern'"; }
    [ ! -s out.txt ] || fail "schedule '$sched' was refused but printed a command"
    echo "ok: refused '$sched': $(head -c 120 err.txt)"
}
refuse UTC "daily @ 25:00" 'schedule "daily @ 25:00": the time is HH:MM'
refuse UTC "0 2 * *" "five-field cron line"
refuse UTC "61 2 * * *" "the minute field '61' is not 0-59"
refuse UTC "0 2 * * funday" "the day-of-week field 'funday' is not 0-7 or a name"
refuse UTC "2026-02-30T01:00Z" "no such day in that month"
refuse UTC "fortnightly" "unknown period"
refuse UTC "monthly on 31" "days after the 28th"
refuse Asia/Kolkata "monthly on 1 @ 20:00 UTC" "falls on another day in local time"

# Installing a recurring job: with no scrontab on PATH, exit 5 and the entry to add by hand; with
# one (a stand-in that keeps the table in a file), the entry is added once, a second submit of
# the same job replaces it, and other users' lines stay.
job j.json '{"name": "nightly", "dataset": {"path": "d.h5"}, "schedule": "daily @ 02:00"}'
mkdir -p empty fakebin
rc=0
PATH=$here/empty TZ=UTC "$MBATCH" submit j.json --script "$script" >out.txt 2>err.txt || rc=$?
[ "$rc" -eq 5 ] && grep -q "needs scrontab, which is not on PATH" err.txt &&
    grep -qx "0 2 \* \* \* MBATCH=.*" err.txt ||
    { cat out.txt err.txt >&2; fail "no-scrontab case"; }
cat >fakebin/scrontab <<'SH'
#!/bin/sh
# A stand-in for scrontab: -l prints the table, FILE replaces it.
table=$(dirname "$0")/../table.txt
if [ "$1" = "-l" ]; then [ -f "$table" ] && cat "$table"; exit 0; fi
cp "$1" "$table"
SH
chmod +x fakebin/scrontab
printf '# someone else\n0 5 * * * /bin/true\n' >table.txt
for lr in 0.1 0.2; do
    PATH=$here/fakebin:/usr/bin:/bin TZ=UTC "$MBATCH" submit j.json --script "$script" \
        --set optimizer.lr=$lr >out.txt 2>err.txt ||
        { cat out.txt err.txt >&2; fail "scrontab install"; }
done
grep -q "nightly scheduled every day at 02:00 with scrontab" out.txt ||
    { cat out.txt >&2; fail "no confirmation"; }
[ "$(grep -c "^# mbatch submit: nightly$" table.txt)" -eq 1 ] ||
    { cat table.txt >&2; fail "entry not replaced"; }
grep -q "^0 2 \* \* \* .* --set optimizer.lr=0.2$" table.txt ||
    { cat table.txt >&2; fail "not the newest entry"; }
grep -qx "0 5 \* \* \* /bin/true" table.txt || { cat table.txt >&2; fail "another line was lost"; }
echo "ok: scrontab entry installed, replaced, others kept"

# A job file error and a missing script are usage errors too.
job bad.json '{"dataset": {"path": "d.h5"}, "schedul": "daily"}'
rc=0
"$MBATCH" submit bad.json --dry-run --script "$script" 2>err.txt || rc=$?
[ "$rc" -eq 1 ] && grep -q "unknown key 'schedul'" err.txt || { cat err.txt >&2; fail "bad key"; }
rc=0
"$MBATCH" submit j.json --dry-run --script nowhere.sbatch 2>err.txt || rc=$?
[ "$rc" -eq 1 ] && grep -q "cannot read the batch script nowhere.sbatch" err.txt ||
    { cat err.txt >&2; fail "missing script"; }
"$MBATCH" submit --help | grep -q "scrontab" || fail "submit --help"
echo PASSED
