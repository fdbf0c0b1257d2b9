"""Storage apart from execution (load-as-sparse, compute-as-dense) and the sparsity formats."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sparseloom.arch.schema import NMPattern, load_arch
from sparseloom.core.errors import InputError
from sparseloom.core.typed_yaml import build
from sparseloom.dataflow.formats import MASK_FORMATS
from sparseloom.dataflow.formats.nm import index_bits, reduction
from sparseloom.sim.simulate import simulate
from sparseloom.workloads.trace import Layer, Provenance, Sparsity, Workload, WorkloadMeta, load_workload

from .conftest import DENSE, ROOT

BASE = load_arch(DENSE)


def fc(batch: int, nm: str = "2:8") -> Workload:
    pattern = NMPattern.parse(nm)
    meta = WorkloadMeta("fc", "fc", "none", [4096, 1, 1], batch, "inference", Sparsity("srste", nm),
                        Provenance("none", "test"))
    return Workload(meta, [Layer("fc", "linear", 4096, 4096, fwd_nm=pattern, bwd_nm=pattern, input_grad=0)])


def flash(arch, rate):
    return replace(arch, sparsity=replace(arch.sparsity, load_compressed=True, decompress_elements_per_cycle=rate))


def test_load_as_sparse_moves_fewer_bytes_for_the_same_macs():
    # a dense array runs a 2:8 FC layer dense either way; stored compressed, its weights move as
    # 2 values + 3 index bits per 8 instead of 8 values
    plain, sparse = simulate(BASE, fc(1)), simulate(flash(BASE, 1024), fc(1))
    assert sparse.totals["macs"] == plain.totals["macs"] == 4096 * 4096
    weights = 4096 * 4096
    assert plain.rows.dram_read_bytes.iloc[0] - sparse.rows.dram_read_bytes.iloc[0] == pytest.approx(
        weights * 2 - weights * 2 / 8 * (2 + 3 / 8), rel=1e-9)
    assert sparse.rows.pattern.iloc[0] == "dense"


def test_load_as_sparse_wins_when_memory_bound_and_loses_when_the_decompressor_bounds():
    # batch 1 (decode-like): DRAM-bound, so fewer bytes is faster; batch 4096 (prefill-like):
    # compute-bound, and a decompressor of 8 elements per cycle expanding every pass over B is slower
    # at 4 x 0.25 GB/s the 32 MiB of dense FP16 weights take 6.7 M cycles, the array 0.5 M
    slow = replace(BASE, dram=replace(BASE.dram, channel_bandwidth_gbyte_s=0.25))
    decode_plain, decode_flash = simulate(slow, fc(1)), simulate(flash(slow, 1024), fc(1))
    assert decode_plain.totals["stall_dram"] > 0.9 * decode_plain.totals["cycles"]
    assert decode_flash.totals["cycles"] / decode_plain.totals["cycles"] == pytest.approx((2 + 3 / 8) / 8, rel=0.01)
    prefill_plain, prefill_flash = simulate(BASE, fc(4096)), simulate(flash(BASE, 8), fc(4096))
    assert prefill_flash.totals["cycles"] > prefill_plain.totals["cycles"]
    assert prefill_flash.totals["stall_buffer"] > 0


def test_load_compressed_needs_a_decompressor(write_yaml, sat_data):
    sat_data["sparsity"]["load_compressed"] = True
    del sat_data["sparsity"]["decompress_elements_per_cycle"]
    with pytest.raises(InputError, match="sparsity.decompress_elements_per_cycle: expected a number > 0"):
        build(type(BASE), sat_data, "sat.yaml")


def test_index_bits_follow_the_executed_pattern():
    assert [index_bits(NMPattern.parse(p)) for p in ("dense", "2:4", "2:8", "1:32")] == [0, 2, 3, 5]
    assert index_bits(NMPattern(2, 4), fixed=3) == 3
    assert reduction(64, 9, NMPattern(2, 8)) == 9 * 16 and reduction(10, 1, NMPattern(1, 4)) == 3


def test_mask_formats_by_hand():
    # 8 reduction rows x 4 columns on a 4x2 array; column nonzeros 1, 3, 0, 2
    matrix = np.zeros((8, 4), bool)
    matrix[0, 0] = matrix[[1, 2, 7], 1] = matrix[[4, 5], 3] = True
    csr, bitmap, block = (MASK_FORMATS[f].execute(matrix, 4, 2) for f in ("csr", "bitmap", "block"))
    # column tiles {0,1}: fullest 3; {2,3}: fullest 2 -> mean 2.5 -> 3 steps
    assert (csr.k_exec, csr.k_useful, csr.meta_bits) == (3, 1.5, 3.0)
    assert (bitmap.k_exec, bitmap.meta_bits) == (3, 8 / 3)
    # blocks of 4 rows: tile {0,1} has nonzeros in both blocks (8 rows), tile {2,3} only in rows 4-7 (4)
    assert block.k_exec == 6 and block.meta_bits == 1 / 8
    # 12 rows (3 blocks of 4) x 4 columns: tile {0,1} touches all 3 blocks (12 rows), tile {2,3} one (4) -> mean 8
    tall = np.zeros((12, 4), bool)
    tall[[0, 5, 11], 0] = tall[6, 3] = True
    assert MASK_FORMATS["block"].execute(tall, 4, 2).k_exec == 8


@pytest.mark.parametrize("fmt", ["csr", "bitmap"])
def test_unstructured_load_as_sparse_moves_the_nonzeros_and_issues_the_dense_macs(fmt):
    # Flash-LLM: MiniLM's pretrained 12.5%-dense masks stored in CSR (or a bitmap) on a dense array,
    # expanded before it. By hand per forward GEMM: the dense copy moves k x n FP16 values; CSR the
    # nonzeros with ceil(log2 k)-bit row indices; a bitmap the nonzeros and k bits per column
    w = load_workload(ROOT / "workloads" / "minilm_unstructured_125").with_batch(2)
    plain, sparse = simulate(BASE, w), simulate(flash(replace(BASE, sparsity=replace(BASE.sparsity, unstructured_format=fmt)), 1024), w)
    assert sparse.totals["macs"] == plain.totals["macs"] == plain.totals["dense_macs"]
    assert sparse.totals["dram_bytes"] < plain.totals["dram_bytes"]
    masks = w.masks()
    rows = plain.rows[plain.rows.engine == "array"], sparse.rows[sparse.rows.engine == "array"]
    checked = 0
    for layer in w.layers:
        mask = masks.get((layer.name, "fwd"))
        if mask is None:
            continue
        k, n, nonzeros = layer.C, layer.K, int(mask.sum())
        meta = nonzeros * np.ceil(np.log2(k)) if fmt == "csr" else n * k
        before, after = (r[(r.name == layer.name) & (r.phase == "FF")].iloc[0] for r in rows)
        # every operand once (the mappings may re-fetch differently): only the weight copy differs
        assert before.compulsory_bytes - after.compulsory_bytes == pytest.approx(k * n * 2 - (nonzeros * 2 + meta / 8), rel=1e-9)
        assert before.macs == after.macs == 2 * 128 * k * n
        checked += 1
    assert checked == 36
