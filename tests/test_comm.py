"""Communication of the pipeline, counted by the PMPI byte counter (benchmarks/commcount.c, built
into bin/libcommcount.so by `make tests`) preloaded into the ranks.

test_commcount_exact: bin/test_commcount (plain MPI calls with known byte counts in named stages)
  at 1, 2, 3 and 4 ranks: every row of the counter's CSV in those stages equals the counter's
  documented definition (exact integers; no row missing or extra).
test_comm_weak_growth: the growth law in weak scaling: the paper's structure on
  WEAK_XY x WEAK_XY x WEAK_PLANES P voxels (a fixed slab per rank) at 4 and 64 ranks with
  percolation, 3D cPSD, MIP, tortuosity along x and y and the conduction solve along z on
  (everything else off), and the 2D cPSD: the largest bytes received by one rank in each of the
  stages components, opening, geodesic and measure (the rest of the measure stage: the 2D cPSD's
  per-slice curves, nz rows, are written by each rank for its own planes; gathered on one rank
  they grew 2x here) at 64 ranks is at most 1.5 x that at 4 ranks, the conduction solve too (its
  multigrid gains a level for every 8 x of the problem, but every rank hosts at most one merged
  level and the replicated level is gathered on ranks that host no other: measured 1.35 x; 1.44 x
  with the gather on the last merged level's hosts, 1.67 x while the merged levels piled up on the
  ranks at multiples of 2^k and every rank received the replicated level, 8.4 x before the coarse
  levels were agglomerated instead of replicated). Tortuosity along z is left out of this one check, because on a
  domain that grows along z its problem is not a weak-scaling one: the paths grow with nz while the
  front that can be worked on in parallel (the x-y cross-section) stays fixed, so no decomposition
  keeps both the bytes and the time per rank flat (docs/communication.md); it is in the strong
  scaling check and in the next one.
test_comm_geodesic_z_weak_growth: the same weak series with tortuosity alone, on all three axes:
  the z problem runs on pencils along z, whose lateral faces nz (nx/rows + ny/cols) grow as
  sqrt(P) on this domain, so the geodesic stage's bytes at 64 ranks are at most sqrt(64/4) = 4 x
  those at 4 ranks (measured 1.68 x; 2.25 x before the search settled bands of distance per round;
  on the x-slabs it ran on before: 10.2 x).
test_comm_float_messages: the conduction solve's preconditioner sends floats (-cond_mg_float, the
  default): on a smooth random 64^3 volume solved along z at 4 ranks (bin/test_conductivity), the
  most bytes received by one rank are at most 0.7 x those with double messages (per CG iteration
  the product's halo stays double and the preconditioner's two fine halos halve: 2/3 of the fine
  level's bytes; every coarse message halves; the setup's messages do not change; measured 0.62 x
  at 96^3).
test_comm_level_stages: -cond_mg_commstages splits the solve's bytes by multigrid level (the
  counter's cond_* stages) without changing them.
test_comm_merged_levels_spread: every rank takes part in the halos of at most one merged level of
  the conduction solve's multigrid, and the replicated level is gathered on its own rows' ranks
  only (16 ranks, -cond_mg_commstages).
test_comm_strong_growth: fixed N (STRONG_N^3), 4 and 32 ranks, the same stages (conduction included): the largest bytes
  received by one rank grows no faster than log P, i.e. at most log2(32) / log2(4) = 2.5 x.
test_comm_io_chunks_in_slabs: the phase volume written with every descriptor off at 3 ranks
  (slabs of 22, 22, 20 planes) and 8 ranks (8 planes each) of 64^3, and at 3 ranks of
  300 x 300 x 40 (14-plane slabs, a tile grown to 256 x 300): its chunks are as deep as the slabs,
  the io stage receives no point-to-point bytes (parallel HDF5 sends a chunk's planes to the one
  rank that compresses it when the chunk straddles slabs: with 16-plane chunks the io stage
  received 53 / 37 kB per rank at 3 / 8 ranks, point to point) and at most HDF5's records of the
  chunks (368 bytes per chunk, twice on rank 0, HDF5 1.10) beside its constant metadata
  broadcasts (3-5 kB here), and the volume equals the 1-rank one.
The growth tests count bytes, so oversubscription does not matter; their decks are small (4
planes per rank in weak scaling, as 2048^3 on 512 ranks has) to keep 64 ranks to a minute here.
"""
import csv
import math
import os
import subprocess

import pgtest

LIB = os.path.join(pgtest.ROOT, "bin", "libcommcount.so")
DRIVER = os.path.join(pgtest.ROOT, "bin", "test_commcount")
WEAK_XY, WEAK_PLANES = 64, 4
STRONG_N = 64
STAGES = ("components", "opening", "geodesic", "conductivity")
PIPELINE = ["-sweep_realizations", "1", "-output_overwrite", "-output_write_phase", "false", "-fft_planner", "estimate",
            "-measure_covariance", "false", "-measure_intrinsic", "false", "-measure_psd2d", "false", "-conductivity_solve", "true",
            "-measure_percolation", "true", "-measure_psd", "true", "-measure_mip", "true", "-measure_tortuosity", "true"]


def counted(np_, exe, args, csv_path, timeout=900):
    """Runs exe at np_ ranks with the counter preloaded; returns its CSV rows."""
    for path in (LIB, exe):
        if not os.path.exists(path):
            raise AssertionError(f"{path} is missing: run `make tests` first")
    cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(np_), "-x", f"LD_PRELOAD={LIB}", "-x", f"PG_COMMCOUNT_OUT={csv_path}",
           "-x", "PG_COMMCOUNT_QUIET=1", "-x", "OMP_NUM_THREADS=1", exe] + [str(a) for a in args]
    p = subprocess.run(cmd, env=pgtest.mpi_env(), capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0 or not os.path.exists(csv_path):
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    with open(csv_path) as f:
        return list(csv.DictReader(f))


def expected_driver(P):
    """{(rank, stage, function): (calls, bytes_sent, bytes_received)} of bin/test_commcount by the
    definitions in benchmarks/commcount.c's header."""
    L = math.ceil(math.log2(P)) if P > 1 else 0
    want = {}

    def add(r, stage, fn, calls=0, sent=0, recv=0):
        want[(r, stage, fn)] = (calls, sent, recv)

    for r in range(P):
        right, left = (r + 1) % P, (r - 1) % P
        ring = right != r  # messages to itself are not counted
        add(r, "p2p", "MPI_Isend", 1, 1000 * (r + 1) * ring, 1000 * (left + 1) * ring)
        add(r, "p2p", "MPI_Recv", 1 + (P > 1 and r == P - 1))
        if P > 1 and r == 0:
            add(r, "p2p", "MPI_Send", 1, 123 * 8, 0)
        if P > 1 and r == P - 1:
            add(r, "p2p", "MPI_Send", 0, 0, 123 * 8)  # received: in the row of the sender's function
        add(r, "p2p", "MPI_Send_init", 1)
        add(r, "p2p", "MPI_Recv_init", 1)
        add(r, "p2p", "MPI_Startall", 2, 2 * 28 * (r + 1) * ring, 2 * 28 * (left + 1) * ring)
        add(r, "p2p", "MPI_Sendrecv", 2, 40 * ring, 40 * ring)
        add(r, "outer", "MPI_Bcast", 2, 64 * (P - 1) * (r == 0) + 32 * (P - 1) * (r == P - 1), 64 * (r != 0) + 32 * (r != P - 1))
        add(r, "coll", "MPI_Allreduce", 1, 40 * L, 40 * L)
        add(r, "coll", "MPI_Alltoallv", 1, sum(r + 1 + 2 * j for j in range(P) if j != r), sum(i + 1 + 2 * r for i in range(P) if i != r))
        add(r, "coll", "MPI_Allgatherv", 1, 12 * (r + 1) * (P - 1), sum(12 * (j + 1) for j in range(P) if j != r))
        root = 1 % P
        add(r, "coll", "MPI_Gather", 1, 16 * (r != root), 16 * (P - 1) * (r == root))
        add(r, "coll", "MPI_Reduce_scatter_block", 1, 16 * (P - 1), 16 * (P - 1))
        add(r, "coll", "MPI_Exscan", 1, 8 * L, 8 * L)
        add(r, "coll", "MPI_Barrier", 1)
        add(r, "nbr", "MPI_Neighbor_alltoallv", 1, 11 * (r + 1) * ring, 11 * (left + 1) * ring)
        if P > 1:
            add(r, "rma", "MPI_Put", 1, 16, 16)
    return want


def test_commcount_exact():
    d = pgtest.workdir("commcount")
    for P in (1, 2, 3, 4):
        rows = counted(P, DRIVER, [], os.path.join(d, f"c{P}.csv"), timeout=120)
        got = {(int(r["rank"]), r["stage"], r["function"]): (int(r["calls"]), int(r["bytes_sent"]), int(r["bytes_received"]))
               for r in rows if r["stage"] in ("p2p", "outer", "coll", "nbr", "rma")}
        want = expected_driver(P)
        bad = [f"{k}: counted {got.get(k)}, defined {want.get(k)} (calls, sent, received)" for k in sorted(set(got) | set(want)) if got.get(k) != want.get(k)]
        assert not bad, f"{P} ranks:\n" + "\n".join(bad)
        assert {r["stage"] for r in rows} <= {"p2p", "outer", "coll", "nbr", "rma", "other"}, f"{P} ranks: stages {sorted({r['stage'] for r in rows})}"


def stage_bytes(rows):
    """{stage: largest bytes received by one rank}, rank-to-rank traffic only (no MPI_File rows)."""
    per = {}
    for r in rows:
        if not r["function"].startswith("MPI_File"):
            key = (r["stage"], r["rank"])
            per[key] = per.get(key, 0) + int(r["bytes_received"])
    out = {}
    for (s, _), b in per.items():
        out[s] = max(out.get(s, 0), b)
    return out


def pipeline_bytes(d, P, shape, extra=()):
    out = os.path.join(d, f"p{P}_{'x'.join(map(str, shape))}.h5")
    rows = counted(P, pgtest.BIN, [pgtest.ROOT + "/inputs/nvp_paper.yaml", "-domain_shape", ",".join(map(str, shape)), "-output_file", out] + PIPELINE + list(extra),
                   os.path.join(d, f"comm{P}.csv"))
    return stage_bytes(rows)


def growth_check(lo, hi, b_lo, b_hi, limits, what, stages=STAGES):
    """limits: {stage: largest allowed ratio of the bytes at hi ranks to those at lo ranks}."""
    lines, bad = [], False
    for s in stages:
        limit = limits[s]
        ratio = b_hi.get(s, 0) / b_lo[s] if b_lo.get(s) else float("inf")
        fail = ratio > limit
        bad |= fail
        lines.append(f"  {s:11s} {b_lo.get(s, 0):>12,d} B at {lo:2d} ranks, {b_hi.get(s, 0):>12,d} B at {hi:2d} ranks: {ratio:5.2f}x{'  > ' + format(limit, '.2g') + 'x' if fail else ''}")
    msg = f"{what}: largest bytes received by one rank\n" + "\n".join(lines)
    print("     " + msg.replace("\n", "\n     "))
    assert not bad, msg


def test_comm_weak_growth():
    d = pgtest.workdir("comm_weak")
    b = {P: pipeline_bytes(d, P, (WEAK_XY, WEAK_XY, WEAK_PLANES * P), ["-measure_axes", "xy", "-measure_psd2d", "true"]) for P in (4, 64)}
    limits = dict.fromkeys(STAGES + ("measure",), 1.5)
    growth_check(4, 64, b[4], b[64], limits, f"weak scaling, {WEAK_XY} x {WEAK_XY} x {WEAK_PLANES}P voxels", stages=STAGES + ("measure",))


def test_comm_geodesic_z_weak_growth():
    d = pgtest.workdir("comm_weak_z")
    off = ["-measure_percolation", "false", "-measure_psd", "false", "-measure_mip", "false", "-conductivity_solve", "false"]
    b = {P: pipeline_bytes(d, P, (WEAK_XY, WEAK_XY, WEAK_PLANES * P), off) for P in (4, 64)}
    growth_check(4, 64, b[4], b[64], {"geodesic": math.sqrt(64 / 4)}, f"weak scaling, tortuosity on x, y and z, {WEAK_XY} x {WEAK_XY} x {WEAK_PLANES}P voxels",
                 stages=("geodesic",))


def smooth_volume_file(d, seed, quantile):
    """A smooth random two-phase 64^3 volume (1 above the quantile of a smoothed Gaussian field)
    written as raw uint8 in d; returns its path."""
    import numpy as np
    from scipy.ndimage import gaussian_filter
    f = gaussian_filter(np.random.default_rng(seed).standard_normal((64, 64, 64)), 2.0, mode="wrap")
    path = os.path.join(d, "v.u8")
    (f > np.quantile(f, quantile)).astype(np.uint8).tofile(path)
    return path


def test_comm_float_messages():
    d = pgtest.workdir("comm_float")
    path = smooth_volume_file(d, 3, 0.5)
    most = {}
    for fl in ("true", "false"):
        rows = counted(4, os.path.join(pgtest.ROOT, "bin", "test_conductivity"),
                       ["-n", "64,64,64", "-in", path, "-value", "1", "-axes", "4", "-cond_mg_float", fl], os.path.join(d, f"c{fl}.csv"))
        per = {}
        for r in rows:
            per[r["rank"]] = per.get(r["rank"], 0) + int(r["bytes_received"])
        most[fl] = max(per.values())
    ratio = most["true"] / most["false"]
    print(f"     conduction solve, 64^3 at 4 ranks: {most['true']:,d} B with float messages, {most['false']:,d} B with double: {ratio:.2f}x")
    assert ratio <= 0.7, f"float messages: {most['true']:,d} B, double: {most['false']:,d} B ({ratio:.2f}x > 0.7x)"


def test_comm_level_stages():
    """-cond_mg_commstages puts each multigrid level's messages in a counter stage of its own
    (cond_L<l>, cond_L<l>_merge, cond_L<l>_gather, cond_product): a smooth random 64^3 volume
    solved along z at 3 ranks (bin/test_conductivity, -cond_mg_replicate 200 for a deep hierarchy):
    every rank receives the same bytes in all as without the stages, and most of them (>= 75%; the
    rest is the setup and CG's reductions) in cond_* stages, with the fine level, the first coarse
    level, CG's product and a gather among them."""
    d = pgtest.workdir("comm_levels")
    path = smooth_volume_file(d, 4, 0.4)
    runs = {}
    for on in ("true", "false"):
        runs[on] = counted(3, os.path.join(pgtest.ROOT, "bin", "test_conductivity"),
                           ["-n", "64,64,64", "-in", path, "-value", "1", "-axes", "4", "-cond_mg_replicate", "200", "-cond_mg_commstages", on],
                           os.path.join(d, f"c{on}.csv"))
    total = {on: {} for on in runs}
    in_cond = {}
    for on, rows in runs.items():
        for r in rows:
            total[on][r["rank"]] = total[on].get(r["rank"], 0) + int(r["bytes_received"])
            if on == "true" and r["stage"].startswith("cond_"):
                in_cond[r["rank"]] = in_cond.get(r["rank"], 0) + int(r["bytes_received"])
    stages = {r["stage"] for r in runs["true"]}
    print(f"     bytes per rank {total['true']} with the level stages, {total['false']} without; stages {sorted(stages)}")
    assert total["true"] == total["false"], "the level stages changed what is sent"
    assert all(in_cond.get(k, 0) >= 0.75 * v for k, v in total["true"].items()), f"in cond_* stages: {in_cond} of {total['true']}"
    assert {"cond_L0", "cond_L1", "cond_product"} <= stages and any(s.endswith("_gather") for s in stages), sorted(stages)


def test_comm_merged_levels_spread():
    """Where the conduction solve's coarse levels live (-cond_mg_commstages): a smooth random 64^3
    volume solved along z at 16 ranks (4-plane slabs, so that the levels merge from level 2 on;
    -cond_mg_replicate 100 -cond_mg_coarse 100 for a deep hierarchy): every rank receives the halos
    of at most one merged level (a merged group's host is the rank below the face the merge
    removes, so each rank hosts at most one; when the lower host kept the pair, rank 0 held every
    merged level), the hand-overs of at most three (its own slab's rows at the first merge, the
    level it hosts, and that level's rows handed on at the next), and the replicated level's
    gathers go to fewer than all ranks, none of which receives the halos of a merged level (the
    level is merged once more before it is replicated, onto ranks that host nothing else; every
    rank received the gathers before). Measured: halos on one level per rank, hand-overs on 1-3,
    the gathers on 2 of 16 ranks; 3 levels of halos on rank 0 and gathers on all 16 with 1675211's
    code."""
    d = pgtest.workdir("comm_spread")
    path = smooth_volume_file(d, 4, 0.4)
    rows = counted(16, os.path.join(pgtest.ROOT, "bin", "test_conductivity"),
                   ["-n", "64,64,64", "-in", path, "-value", "1", "-axes", "4", "-cond_mg_replicate", "100", "-cond_mg_coarse", "100", "-cond_mg_commstages", "true"],
                   os.path.join(d, "c16.csv"))
    merged = {int(r["stage"][6:-6]) for r in rows if r["stage"].startswith("cond_L") and r["stage"].endswith("_merge")}
    assert len(merged) >= 3, f"merged levels {sorted(merged)}: expected a deep hierarchy of merges at 16 ranks"
    halo, hand, gather = {}, {}, {}
    for r in rows:
        st, k, b = r["stage"], int(r["rank"]), int(r["bytes_received"])
        if not st.startswith("cond_L") or b == 0:
            continue
        level = int(st[6:].split("_")[0])
        if st == f"cond_L{level}" and level in merged:
            halo.setdefault(k, set()).add(level)
        elif st.endswith("_merge"):
            hand.setdefault(k, set()).add(level)
        elif st.endswith("_gather"):
            gather[k] = gather.get(k, 0) + b
    print(f"     merged levels {sorted(merged)}; halos of merged levels per rank {dict(sorted(halo.items()))}; "
          f"hand-overs {dict(sorted(hand.items()))}; gather bytes on {len(gather)} of 16 ranks")
    assert all(len(v) <= 1 for v in halo.values()), f"ranks in the halos of more than one merged level: {halo}"
    assert all(len(v) <= 3 for v in hand.values()), f"ranks in the hand-overs of more than three merged levels: {hand}"
    assert 0 < len(gather) < 16, f"the replicated level's gather reached {len(gather)} of 16 ranks"
    both = sorted(k for k in gather if k in halo)
    assert not both, f"ranks {both} receive the replicated level's gathers and the halos of a merged level"


def test_comm_strong_growth():
    d = pgtest.workdir("comm_strong")
    b = {P: pipeline_bytes(d, P, (STRONG_N,) * 3) for P in (4, 32)}
    growth_check(4, 32, b[4], b[32], dict.fromkeys(STAGES, math.log2(32) / math.log2(4)), f"strong scaling, {STRONG_N}^3 voxels")


def test_comm_segment_calibrate_weak_growth():
    """Segmentation with 3D filters (ghost planes of the balls' reach) and calibration from its labels
    (the stack's covariance transforms) in weak scaling: a 64 x 64 x 4P grey stack and two 256^2
    images at 4 and 64 ranks; the bytes per rank of each stage grow at most 1.5x."""
    d = pgtest.workdir("comm_segment")
    b = {}
    for P in (4, 64):
        data = os.path.join(d, f"grey{P}.h5")
        subprocess.run(["/usr/bin/python3", os.path.join(pgtest.ROOT, "tools", "make_calibration_data.py"), data, "--grey", "--seed", "3",
                        "--n3", f"64,64,{4 * P}", "--n2", "256", "--images", "2"], check=True, capture_output=True)
        rows = counted(P, pgtest.BIN, [os.path.join(pgtest.ROOT, "inputs", "segment_example.yaml"), "-segment_volume", f"{data}:/grey/volume",
                                       "-segment_images", f"{data}:/grey/images/0,{data}:/grey/images/1", "-segment_labels_file",
                                       os.path.join(d, f"labels{P}.h5"), "-segment_stack_3d", "true", "-segment_stack_median_radius_um", "0.05",
                                       "-segment_stack_otsu_radius_um", "0.1", "-calibration_simulate", "false", "-output_file",
                                       os.path.join(d, f"o{P}.h5"), "-output_overwrite"], os.path.join(d, f"comm{P}.csv"))
        b[P] = stage_bytes(rows)
    assert b[4].get("segment", 0) > 10_000 and b[4].get("calibrate", 0) > 100_000, b[4]
    growth_check(4, 64, b[4], b[64], {"segment": 1.5, "calibrate": 1.5}, "weak scaling, a 64 x 64 x 4P grey stack", stages=("segment", "calibrate"))


def test_comm_io_chunks_in_slabs():
    import h5py
    import numpy as np
    d = pgtest.workdir("comm_io")
    off = ["-sweep_realizations", "1", "-output_overwrite", "-fft_planner", "estimate", "-conductivity_solve", "false"]
    off += [a for m in ("covariance", "intrinsic", "psd2d", "percolation", "psd", "mip", "tortuosity") for a in (f"-measure_{m}", "false")]
    phase = {}
    # (ranks, shape x,y,z, chunks z,y,x): a 300^2 plane on 14-plane slabs grows the x tile to 300 (2^20 voxels)
    for P, shape, want in ((1, "64,64,64", (16, 64, 64)), (3, "64,64,64", (22, 64, 64)), (8, "64,64,64", (8, 64, 64)), (3, "300,300,40", (14, 256, 300))):
        out = os.path.join(d, f"io{P}_{shape.replace(',', 'x')}.h5")
        rows = counted(P, pgtest.BIN, [pgtest.ROOT + "/inputs/nvp_paper.yaml", "-domain_shape", shape, "-output_file", out] + off,
                       os.path.join(d, f"comm{P}_{shape.replace(',', 'x')}.csv"))
        with h5py.File(out, "r") as f:
            ds = f["runs/0000/phase"]
            assert ds.chunks == want, f"{P} ranks, {shape}: chunks {ds.chunks}, expected {want} (as deep as the slabs)"
            chunks = math.prod(math.ceil(n / c) for n, c in zip(ds.shape, ds.chunks))
            if shape == "64,64,64":
                phase[P] = ds[...]
        io = [r for r in rows if r["stage"] == "io" and not r["function"].startswith("MPI_File")]
        p2p = sum(int(r["bytes_received"]) for r in io if "send" in r["function"].lower() or r["function"].startswith("MPI_Start"))
        assert p2p == 0, f"{P} ranks: the io stage received {p2p} bytes point to point (chunk data moved between ranks)"
        most = stage_bytes(rows).get("io", 0)
        bound = 2 * 400 * chunks + 8192
        print(f"     {P} ranks: chunks {ds.chunks} ({chunks}), io stage {most} B received by one rank (bound {bound})")
        assert most <= bound, f"{P} ranks: the io stage received {most} B on one rank, more than {bound} (records of {chunks} chunks)"
    for P in (3, 8):
        assert np.array_equal(phase[P], phase[1]), f"the phase volume written at {P} ranks differs from the 1-rank one"
