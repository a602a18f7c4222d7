#!/bin/bash
# Submits a carbon-fraction sweep as a Slurm job array plus its merge step.
#
# Usage (from the plurigauss directory, after make):
#   jobs/submit_sweep.sh DECK.yaml [-section_key value ...]
# Environment:
#   SBATCH_ARGS   options for the array job, e.g. "-N 2 -n 64 -t 04:00:00 -p compute"
#   MERGE_SBATCH_ARGS  options for the merge job
#   ARRAY_LIMIT   at most this many tasks at once (sbatch --array=0-N%K)
#   FRACTIONS     comma-separated carbon fractions instead of the deck's sweep.carbon_fraction
#   and everything jobs/sweep.sbatch reads (NP, THREADS, LAUNCHER, ...), passed on by sbatch.
# Prints the two job ids: "array <id>" and "merge <id>". The merge job runs only if every task
# succeeds (afterok); a task that requeues itself before its time limit does not count as
# finished until its last start completes.
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { echo "usage: jobs/submit_sweep.sh DECK.yaml [-section_key value ...]" >&2; exit 1; }
LIST=${FRACTIONS:-$(python3 "$ROOT/jobs/deck_keys.py" "$@" --get sweep_carbon_fraction)}
IFS=, read -r -a FRAC <<<"$LIST"
N=${#FRAC[@]}
[ "$N" -gt 0 ] || N=1
export PG_ROOT=${PG_ROOT:-$ROOT}
# shellcheck disable=SC2086  # option lists
array=$(sbatch --parsable --array=0-$((N - 1))${ARRAY_LIMIT:+%$ARRAY_LIMIT} $SBATCH_ARGS "$ROOT/jobs/sweep.sbatch" "$@")
array=${array%%;*}
# shellcheck disable=SC2086
merge=$(sbatch --parsable --dependency=afterok:"$array" $MERGE_SBATCH_ARGS "$ROOT/jobs/merge_sweep.sbatch" "$@")
echo "array ${array}"
echo "merge ${merge%%;*}"
