#!/usr/bin/env bash
# CI: profiles/slurm on a real SLURM cluster of one node (this machine, no GPU, no accounting).
#
#   bash .ci/slurm.sh        (as root, from any folder; after .ci/run has installed .venv)
#
# Installs Debian's SLURM and munge, writes /etc/slurm/slurm.conf, starts munged, slurmctld and
# slurmd, then in a scratch copy of the repository (so results/ of the checkout is never touched):
#   1. the smallest CI configuration (config/ci.yaml + .ci/slurm-small.yaml: every rule once) through
#      SLURM: snakemake --profile profiles/slurm --profile .ci/slurm-local (.ci/slurm-local/config.yaml
#      says what the overlay changes), and checks that every job went through sbatch and the outputs;
#   2. the failure test: a job that raises (.ci/slurm-fail.yaml) must make snakemake exit non-zero,
#      in time, naming the FAILED SLURM job, after exactly 1 + retries submissions (beside step 1,
#      in a copy of its own: two workflows sharing the cluster);
#   3. SVG Table 1's paper config (config/paper/cross.yaml), Mind the Gap's (config/paper/mtg.yaml, mtg_iterative.yaml)
#      and SVG §4.3-§4.4's studies (config/paper/n_sweep.yaml, cross_eval.yaml, stages.yaml)
#      planned through profiles/slurm (dry runs, in a third copy while steps 1 and 2 run).
# The daemons are stopped by their recorded pids on exit, failure included, and the slurm.conf written
# here is removed. .ci/run starts this script beside the tests (alone it keeps the 2 cores less than half busy).
# Environment: SVGAP_SLURM_LIMIT (seconds for step 1, default 2700), SVGAP_SLURM_FAIL_LIMIT (step 2,
# default 900), SVGAP_SLURM_KEEP=1 keeps the scratch folder (kept anyway on failure).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
LIMIT=${SVGAP_SLURM_LIMIT:-2700}
FAIL_LIMIT=${SVGAP_SLURM_FAIL_LIMIT:-900}
PARTITION=ci
CONF=/etc/slurm/slurm.conf
MARK="# written by svgap .ci/slurm.sh"
T0=$SECONDS

section() { echo; echo "== slurm: $*"; }
fail() { echo "slurm.sh: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root (it installs packages and starts slurmd)"
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f .venv/bin/activate ]; then
  . .venv/bin/activate
fi
command -v snakemake >/dev/null || fail "no snakemake on PATH (activate the venv of .ci/run first)"
python -c "import snakemake_executor_plugin_slurm" 2>/dev/null \
  || fail "snakemake-executor-plugin-slurm is not installed in $(command -v python)"

# ---- state: daemon spool, logs, pids and the scratch copy, all in one folder ----
STATE=$(mktemp -d "${TMPDIR:-/tmp}/svgap-slurm.XXXXXX")
chmod 755 "$STATE"
mkdir -p "$STATE/log" "$STATE/ctld" "$STATE/spool" "$STATE/run"
PIDS=()      # pids of the daemons this script started, stopped in reverse order
declare -A BACKGROUND=()  # name -> pid of the snakemake runs started in the background (steps 5 and 6)

stop_daemons() {
  local rc=$?
  set +e
  section "stopping daemons"
  if [ -n "$(command -v squeue)" ] && [ "${#PIDS[@]}" -gt 1 ]; then
    squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null   # jobs left by a failed step (own cluster)
    sleep 1
  fi
  local i
  for i in "${BACKGROUND[@]}"; do   # a run still going when a step failed: its timeout, then snakemake
    pkill -TERM -P "$i" 2>/dev/null
  done
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill "${PIDS[i]}" 2>/dev/null
  done
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    for _ in $(seq 50); do kill -0 "${PIDS[i]}" 2>/dev/null || break; sleep 0.2; done
    kill -9 "${PIDS[i]}" 2>/dev/null
    wait "${PIDS[i]}" 2>/dev/null
  done
  echo "stopped pids: ${PIDS[*]:-none}"
  # the config goes with the daemons: with a slurm.conf and no slurmctld, every later snakemake start
  # waits about 10 s on the SLURM plugin's `scontrol show config` (the tests after this script included)
  if [ -f "$CONF" ] && grep -qF "$MARK" "$CONF"; then
    rm -f "$CONF"
    echo "removed $CONF"
  fi
  if [ "$rc" -ne 0 ]; then
    for f in "$STATE"/log/*.log "$STATE"/log/*.out; do   # the daemons, the runs in the background
      [ -f "$f" ] && { echo "--- tail of $f"; tail -n 30 "$f"; }
    done
    echo "slurm.sh: failed (exit $rc); state and scratch copy kept in $STATE"
  elif [ "${SVGAP_SLURM_KEEP:-0}" = 1 ]; then
    echo "scratch copy kept in $STATE"
  else
    rm -rf "$STATE"
  fi
  echo "== slurm: total $((SECONDS - T0)) s"
  exit "$rc"
}
trap stop_daemons EXIT

# ---- 1. packages ----
section "install (slurmctld slurmd slurm-client munge)"
t=$SECONDS
if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
  && command -v munged >/dev/null; then
  echo "already installed"
else
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi
slurmctld -V
echo "install: $((SECONDS - t)) s"

for daemon in munged slurmctld slurmd; do
  if pid=$(pgrep -x "$daemon"); then
    fail "$daemon is already running (pid $pid): stop it first, this script starts its own"
  fi
done

# ---- 2. slurm.conf: one node (this machine), one partition, no accounting, no cgroups ----
section "configure $CONF"
if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
  fail "$CONF exists and was not written by this script: not overwriting it"
fi
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)   # 10% left to the system
mkdir -p /etc/slurm
cat >"$CONF" <<EOF
$MARK: a single-node test cluster (no GPU, no slurmdbd).
ClusterName=svgapci
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
# A container has no usable cgroups: track processes through /proc, bind no tasks.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
# No accounting: sacct has nothing to report, the plugin follows jobs with squeue instead, which
# shows a finished job (COMPLETED, FAILED, ...) for MinJobAge seconds (long enough for the failure
# test to read its attempts' time limits after the CI run beside it has kept the node busy).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=1200
ReturnToService=2
InactiveLimit=0
KillWait=10
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
cat "$CONF"

# ---- 3. daemons ----
section "start munged, slurmctld, slurmd"
t=$SECONDS
mkdir -p /run/munge
chown munge:munge /run/munge
chmod 755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
fi
setpriv --reuid=munge --regid=munge --init-groups munged --foreground >"$STATE/log/munged.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do { munge -n </dev/null | unmunge; } >/dev/null 2>&1 && break; sleep 0.2; done
{ munge -n </dev/null | unmunge; } >/dev/null || fail "munged does not answer"
slurmctld -D -i >"$STATE/log/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D >"$STATE/log/slurmd.out" 2>&1 &
PIDS+=($!)
echo "pids: munged ${PIDS[0]}, slurmctld ${PIDS[1]}, slurmd ${PIDS[2]}"
state=""
for _ in $(seq 120); do
  state=$(sinfo -h -N -n "$HOST" -o %t 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.5
done
sinfo
[ "$state" = idle ] || fail "node $HOST is '$state', not idle, after 60 s"
echo "cluster up: $((SECONDS - t)) s"

# ---- 4. scratch copies of the repository (tracked and untracked files, .gitignore honoured) ----
# Three of them: the CI run (step 5), the failure test (step 6) and the dry runs (steps 7, 8) run side by
# side, each in its own folder (Snakemake locks a working directory), sharing the cluster as users' runs do.
WORK=$STATE/svgap
mkdir -p "$WORK"
if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$REPO" ls-files -z --cached --others --exclude-standard \
    | tar -C "$REPO" --null -T - --ignore-failed-read -cf - | tar -C "$WORK" -xf -
else
  tar -C "$REPO" --exclude=./.git --exclude=./.venv --exclude=./results --exclude=./.snakemake -cf - . \
    | tar -C "$WORK" -xf -
fi
FAILWORK=$STATE/fail
PLANWORK=$STATE/plan
cp -a "$WORK" "$FAILWORK"
cp -a "$WORK" "$PLANWORK"
# profiles/slurm reads the partitions from these (the GPU rules' one too: this node has no GPU).
export SVGAP_SLURM_PARTITION=$PARTITION SVGAP_SLURM_GPU_PARTITION=$PARTITION
SMK=(snakemake --profile profiles/slurm --profile .ci/slurm-local --max-threads "$CPUS")

# in_background NAME LIMIT FOLDER ARGS...: snakemake through the profile in FOLDER, killed after LIMIT s,
# its output in $STATE/log/NAME.out, its exit status and seconds in $STATE/log/NAME.{rc,seconds}, its
# subshell's pid in BACKGROUND[NAME]
in_background() {
  local name=$1 limit=$2 folder=$3
  shift 3
  (
    cd "$folder"
    s=$SECONDS
    rc=0
    timeout -k 30 "$limit" "${SMK[@]}" "$@" >"$STATE/log/$name.out" 2>&1 || rc=$?
    echo $((SECONDS - s)) >"$STATE/log/$name.seconds"
    echo "$rc" >"$STATE/log/$name.rc"
  ) &
  BACKGROUND[$name]=$!
}
# finish NAME: wait for in_background NAME, print its output, return its exit status
finish() {
  wait "${BACKGROUND[$1]}" 2>/dev/null || true
  section "output of $1"
  cat "$STATE/log/$1.out"
  return "$(cat "$STATE/log/$1.rc")"
}

# ---- 5, 6. the CI configuration through SLURM, and beside it the failure test ----
section "start: config/ci.yaml + .ci/slurm-small.yaml through SLURM (limit $LIMIT s) in $WORK, and the failure test (limit $FAIL_LIMIT s) in $FAILWORK"
in_background run "$LIMIT" "$WORK" --configfile config/ci.yaml .ci/slurm-small.yaml
# a job that raises must fail the run (.ci/slurm-fail.yaml)
in_background fail "$FAIL_LIMIT" "$FAILWORK" --configfile config/ci.yaml .ci/slurm-fail.yaml \
  -- results/models/ci-missing-model/model.json

# ---- 7, 8. The paper configs of SVG Table 1 and of Mind the Gap planned through the SLURM profile ----
# (dry runs, in their own folder while the two runs above go on)
cd "$PLANWORK"
# plan_through_slurm CONFIG RULE...: a dry run through profiles/slurm that must plan a job of each RULE
plan_through_slurm() {
  local config=$1 name; name=$(basename "$1" .yaml); shift
  section "dry run of $config through profiles/slurm"
  snakemake --profile profiles/slurm --configfile "$config" -n > "$STATE/log/$name.out" 2>&1 \
    || { tail -30 "$STATE/log/$name.out"; fail "$config does not plan through profiles/slurm"; }
  for rule in "$@"; do
    grep -Eq "^$rule +[0-9]+" "$STATE/log/$name.out" || fail "the plan of $config has no $rule job"
  done
  echo "ok: $(awk '$1 == "total" {print $2; exit}' "$STATE/log/$name.out") jobs planned"
}
t=$SECONDS
# the external responses (DeepSeek-V3's in the paper) are files the user brings: empty stand-ins here
mkdir -p data/external && touch data/external/math.jsonl data/external/gsm8k.jsonl
plan_through_slurm config/paper/cross.yaml external_data chosen_prompts score_external cross_table1 cross_gamma
CROSS_S=$((SECONDS - t))
t=$SECONDS
# Natural Questions (nq_open) is a local file the user brings: empty stand-ins let the DAG plan
mkdir -p data/nq_open && touch data/nq_open/train.jsonl data/nq_open/validation.jsonl
plan_through_slurm config/paper/mtg.yaml gap_generate gap_verify gap_measure gap_tables gap_figures
# MTG's iterative self-improvement (§5): the loop's rules with rejection-sampling selection
plan_through_slurm config/paper/mtg_iterative.yaml generate_and_verify select finetune trajectory
MTG_S=$((SECONDS - t))
# SVG §4.3-§4.4: the N sweep, the cross-evaluation matrices, the training stages (ProntoQA is a local
# file the user generates: the tests' fixture stands in)
t=$SECONDS
mkdir -p data && cp tests/fixtures/prontoqa.json data/prontoqa.json
plan_through_slurm config/paper/n_sweep.yaml n_sweep_sample n_sweep plot_n_sweep
plan_through_slurm config/paper/cross_eval.yaml cross_eval_sample cross_eval_verify cross_eval plot_cross_eval
plan_through_slurm config/paper/stages.yaml generate_and_verify finetune training_stages plot_training_stages
STUDY_S=$((SECONDS - t))

# ---- 6. the failure test's checks ----
cd "$FAILWORK"
rc=0
finish fail || rc=$?
[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "snakemake hung on a failed SLURM job (killed after $FAIL_LIMIT s)"
[ "$rc" -ne 0 ] || fail "snakemake exited 0 although the job failed"
grep -q "SLURM status is: 'FAILED'" "$STATE/log/fail.out" || fail "no FAILED SLURM job in the output"
grep -q "holds no config.json" "$STATE/log/fail.out" || fail "the job's own error is not in the output"
tries=$(( $(grep -c "has been submitted with SLURM jobid" "$STATE/log/fail.out" || true) ))
retries=$(awk '$1 == "retries:" {print $2; exit}' profiles/slurm/config.yaml)
[ "$tries" -eq $((retries + 1)) ] || fail "the failed job ran $tries times, profiles/slurm's retries: $retries means $((retries + 1))"
# each attempt asks for more time: base_model's runtime is "60 * attempt" minutes (profiles/slurm), so the
# attempts carry -t 60, 120, 180, ... (slurmctld keeps finished jobs for MinJobAge seconds)
limits=()
for id in $(grep -o "has been submitted with SLURM jobid [0-9]*" "$STATE/log/fail.out" | awk '{print $NF}'); do
  limits+=("$(scontrol show job -o "$id" | grep -o 'TimeLimit=[^ ]*' | cut -d= -f2)")
done
expected=$(for i in $(seq 1 "$tries"); do printf '%02d:00:00 ' "$i"; done)
echo "time limits of the attempts: ${limits[*]} (expected: $expected)"
[ "${limits[*]} " = "$expected" ] \
  || fail "the attempts' time limits are '${limits[*]}', not '$expected' (base_model's runtime: 60 * attempt)"
FAIL_S=$(cat "$STATE/log/fail.seconds")
echo "ok: exit $rc after $FAIL_S s; $tries SLURM jobs (retries), each FAILED, each with more time"

# ---- 5. the CI run's checks ----
cd "$WORK"
rc=0
finish run || rc=$?
[ "$rc" -eq 0 ] || fail "the SLURM run exited with $rc (124: over $LIMIT s)"
RUN_S=$(cat "$STATE/log/run.seconds")
for f in results/smollm2-135m/add/tf/seed0/trajectory.parquet results/analysis/table2.md results/index.md; do
  [ -s "$f" ] || fail "missing output $f"
  echo "ok: $f"
done
submitted=$(grep -c "has been submitted with SLURM jobid" "$STATE/log/run.out" || true)
planned=$(awk '$1 == "total" {print $2; exit}' "$STATE/log/run.out")
[ -n "$planned" ] || fail "no job table in the run's output"
# every job but the local target rule `all` goes through sbatch
[ "$submitted" -eq $((planned - 1)) ] || fail "$submitted jobs went through sbatch, $planned planned (all but 'all')"
echo "ok: $submitted of $planned jobs ran as SLURM jobs; SLURM run: $RUN_S s"
cat results/analysis/table2.md

section "passed: CI config through SLURM $RUN_S s, failure test $FAIL_S s, paper dry runs: cross $CROSS_S s, mtg $MTG_S s, studies $STUDY_S s"
