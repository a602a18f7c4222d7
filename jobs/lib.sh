# Helpers shared by the job scripts in jobs/ (bash; sourced, not run).
#
#   pg_setup            checks PG_ROOT; sets PG_BIN, PYTHON (the job runs in the submit directory:
#                       relative paths in decks and arguments are relative to it)
#   pg_launcher NP [THREADS]
#                       sets the array LAUNCH: the command that starts NP MPI ranks (of THREADS)
#                         LAUNCHER=auto (default) | srun | mpirun
#                         auto: srun --mpi=$SRUN_MPI (default pmix) inside a Slurm job when srun
#                         lists that plugin, else mpirun. Extra options: SRUN_ARGS, MPIRUN_ARGS.
#   pg_run CMD...       runs CMD in the background and waits for it; USR1/TERM/INT received by
#                       this shell are forwarded to it (the shell itself only handles a signal
#                       between commands, so a foreground CMD would delay it to the end). Returns
#                       CMD's exit status. PG_GOT_USR1 / PG_GOT_TERM record what arrived.
#   pg_requeue_or_exit STATUS
#                       0: exit 0. 3 (plurigauss stopped by a signal, output resumable) after a
#                       USR1 (Slurm's --signal=B:USR1@T time-limit warning, or --signal=USR1@T
#                       to the step) and no TERM/INT (scancel, node shutdown): scontrol requeue
#                       this job, so that its next start resumes the output. Else exit STATUS.
#                       At most MAX_RESTARTS (default 50) requeues.

pg_log() { echo "[$(date +%H:%M:%S)${SLURM_JOB_ID:+ job $SLURM_JOB_ID${SLURM_ARRAY_TASK_ID:+ task $SLURM_ARRAY_TASK_ID}}] $*"; }
pg_die() { echo "plurigauss job: error: $*" >&2; exit 1; }

pg_setup() {
  [ -x "$PG_ROOT/bin/plurigauss" ] || pg_die "no $PG_ROOT/bin/plurigauss: submit from the plurigauss directory (after make) or set PG_ROOT"
  PG_BIN=${PG_BIN:-$PG_ROOT/bin/plurigauss}
  PYTHON=${PYTHON:-python3}
}

pg_launcher() {
  local np=$1 threads=${2:-1} which=${LAUNCHER:-auto}
  if [ "$which" = auto ]; then
    which=mpirun
    if [ -n "$SLURM_JOB_ID" ] && command -v srun >/dev/null 2>&1 &&
       srun --mpi=list 2>&1 | grep -qw -- "${SRUN_MPI:-pmix}"; then
      which=srun
    fi
  fi
  # shellcheck disable=SC2206  # SRUN_ARGS / MPIRUN_ARGS are option lists, split on purpose
  case "$which" in
    srun) LAUNCH=(srun --mpi="${SRUN_MPI:-pmix}" -n "$np" $SRUN_ARGS) ;;
    mpirun) LAUNCH=(mpirun -np "$np" $MPIRUN_ARGS) ;;
    *) pg_die "LAUNCHER=$which: use srun, mpirun or auto" ;;
  esac
  # threads: srun (22.05 and later) does not pass the job's --cpus-per-task on to its steps by
  # itself; mpirun would bind each rank to one core
  if [ "$threads" -gt 1 ]; then
    [ "$which" = srun ] && LAUNCH+=(-c "$threads") || LAUNCH+=(--bind-to none)
  fi
}

PG_GOT_USR1=0
PG_GOT_TERM=0
PG_CHILD=
_pg_forward() {
  [ "$1" = USR1 ] && PG_GOT_USR1=1 || PG_GOT_TERM=1
  pg_log "got SIG$1${PG_CHILD:+, forwarding SIGUSR1 to $PG_CHILD}"
  # plurigauss treats USR1, TERM and INT alike; USR1 is the one that srun and mpirun both pass on
  # to the ranks without ending the job themselves
  [ -n "$PG_CHILD" ] && kill -USR1 "$PG_CHILD" 2>/dev/null
}
pg_traps() {
  trap '_pg_forward USR1' USR1
  trap '_pg_forward TERM' TERM
  trap '_pg_forward INT' INT
}

pg_run() {
  local rc r2
  "$@" &
  PG_CHILD=$!
  # a signal that arrived before the start
  [ "$PG_GOT_USR1$PG_GOT_TERM" != 00 ] && kill -USR1 "$PG_CHILD" 2>/dev/null
  while :; do
    wait "$PG_CHILD"
    rc=$?
    [ "$rc" -gt 128 ] || break
    # wait also returns (status > 128) when a trapped signal arrives; the child may still run
    kill -0 "$PG_CHILD" 2>/dev/null && continue
    # it ended around the signal: ask for its status (an older bash says 127 if already reported)
    wait "$PG_CHILD" 2>/dev/null
    r2=$?
    [ "$r2" -ne 127 ] && rc=$r2
    break
  done
  PG_CHILD=
  return $rc
}

pg_requeue_or_exit() {
  local rc=$1
  [ "$rc" -eq 0 ] && exit 0
  if [ "$rc" -eq 3 ] && [ "$PG_GOT_TERM" = 0 ] && [ -n "$SLURM_JOB_ID" ]; then
    local n=${SLURM_RESTART_COUNT:-0}
    if [ "$n" -ge "${MAX_RESTARTS:-50}" ]; then
      pg_log "stopped with the output resumable, but already restarted $n times (MAX_RESTARTS); not requeueing"
      exit 3
    fi
    pg_log "stopped before the time limit with the output resumable: requeueing (restart $((n + 1)))"
    if scontrol requeue "$SLURM_JOB_ID"; then
      exit 0
    fi
    pg_log "scontrol requeue failed (job submitted with --no-requeue, or JobRequeue=0?); resubmit to resume"
  fi
  exit "$rc"
}

# ---- scaling benchmarks (jobs/strong_scaling.sbatch, jobs/weak_scaling.sbatch) ----------------
# pg_scaling_setup KIND: reads the benchmark parameters from the environment (see the scripts)
pg_scaling_setup() {
  PG_KIND=$1
  NTASKS=${SLURM_NTASKS:-${NP:-1}}
  NNODES=${SLURM_NNODES:-1}
  TPN=$(((NTASKS + NNODES - 1) / NNODES)) # tasks per node of the allocation
  THREADS=${THREADS:-${SLURM_CPUS_PER_TASK:-1}}
  PRECISION=${PRECISION:-single}
  PLANNER=${PLANNER:-measure}
  DECK=${DECK:-$PG_ROOT/inputs/nvp_paper.yaml}
  TABLE=${TABLE:-$PG_ROOT/benchmarks/${PG_KIND}_scaling.csv}
  WORKDIR=${WORKDIR:-out/scaling}
  WHAT=${WHAT:-pipeline}
  case "$WHAT" in
    pipeline) PG_WHAT_ARGS=() ;; # the deck's descriptors and solve, as a production run has them
    generate) PG_WHAT_ARGS=(-measure_covariance false -measure_intrinsic false -measure_percolation false -measure_psd false -measure_psd2d false
                            -measure_mip false -measure_tortuosity false -conductivity_solve false) ;;
    *) pg_die "WHAT=$WHAT: use pipeline (every stage of the deck) or generate (generation only)" ;;
  esac
  [ "$WHAT" = generate ] && REPS=${REPS:-3} || REPS=${REPS:-1}
  if [ -z "$RANKS" ]; then # 1, 2, 4, ... up to the allocation, and the allocation itself
    local r=1
    RANKS=
    while [ $r -lt "$NTASKS" ]; do RANKS="$RANKS $r"; r=$((r * 2)); done
    RANKS="$RANKS $NTASKS"
  fi
  RANKS=${RANKS//,/ }
  mkdir -p "$WORKDIR"
}

# pg_scaling_point R NX NY NZ: one run at R ranks (plus the plurigauss options in the array ARGS);
# its row (every stage's seconds, from the run's CSV) is appended to TABLE
pg_scaling_point() {
  local r=$1 shape=$2,$3,$4 nn rc base
  nn=$(((r + TPN - 1) / TPN))
  [ "$nn" -gt "$NNODES" ] && nn=$NNODES
  pg_launcher "$r" "$THREADS"
  [ "${LAUNCH[0]}" = srun ] && LAUNCH+=(-N "$nn")
  base=$WORKDIR/${PG_KIND}_${shape//,/x}_${nn}n${r}r${THREADS}t_${SLURM_JOB_ID:-$$}
  pg_log "$PG_KIND: $nn node(s) x $r rank(s) x $THREADS thread(s), $shape voxels: ${LAUNCH[*]}"
  pg_run "${LAUNCH[@]}" "$PG_BIN" "$DECK" -domain_shape "$shape" -sweep_realizations "$REPS" \
    -output_write_phase false "${PG_WHAT_ARGS[@]}" -fft_time_bare -fft_planner "$PLANNER" \
    -output_precision "$PRECISION" -threads "$THREADS" -output_file "$base.h5" -output_overwrite "${ARGS[@]}" >"$base.log" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    pg_log "run failed (status $rc), see $base.log"
    tail -5 "$base.log"
    return $rc
  fi
  "$PYTHON" "$PG_ROOT/benchmarks/scaling_table.py" append "$TABLE" --kind "$PG_KIND" --what "$WHAT" --csv "$base.csv" --log "$base.log" --nodes "$nn" \
    --ranks "$r" --threads "$THREADS" --shape "$shape" --precision "$PRECISION" --launcher "${LAUNCH[0]}" --job "${SLURM_JOB_ID:-}"
  rm -f "$base.h5" "$base.xdmf"
}
