"""The quick parts of benchmarks/aarch64.sh (the emulated run itself is too slow for CI): comparing two runs'
JSON, the verdict line, the target requirements read from a wheel, the lossless clip and argument handling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from benchmark_modules import load_benchmark

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"


compare = load_benchmark("compare_outputs")
verdict = load_benchmark("aarch64_verdict")
wheelreq = load_benchmark("wheel_requirements")

PROBS = {"angry": 0.05, "disgust": 0.01, "fear": 0.02, "happy": 0.80, "neutral": 0.08, "sad": 0.03, "surprise": 0.01}


def face(box=(100, 50, 80, 80), label="happy", **changes: float) -> dict:
    return {"box": list(box), "label": label, "score": PROBS[label], "probs": {**PROBS, **changes}, "track_id": 1}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def frames(*faces_per_frame: list[dict]) -> list[dict]:
    return [{"frame": i, "time_s": i / 25, "faces": f} for i, f in enumerate(faces_per_frame)]


# --- compare_outputs ---------------------------------------------------------------------------------------


def test_iou_of_boxes() -> None:
    assert compare.iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert compare.iou([0, 0, 10, 10], [5, 0, 10, 10]) == pytest.approx(50 / 150)
    assert compare.iou([0, 0, 10, 10], [20, 20, 5, 5]) == 0.0
    assert compare.iou([0, 0, 0, 0], [0, 0, 0, 0]) == 0.0


def test_identical_runs_agree(tmp_path) -> None:
    run = write_jsonl(tmp_path / "a.jsonl", frames([face()], [face(), face((300, 40, 60, 60), "sad")]))
    result = compare.compare_files(run, run)
    assert result.agree
    assert (result.records, result.faces, result.max_prob_diff, result.min_iou) == (2, 3, 0.0, 1.0)


def test_small_differences_within_tolerance_agree(tmp_path) -> None:
    ref = write_jsonl(tmp_path / "ref.jsonl", frames([face()]))
    cand = write_jsonl(tmp_path / "cand.jsonl", frames([face((101, 50, 80, 80), happy=0.79, neutral=0.09)]))
    result = compare.compare_files(ref, cand, tol=0.02)
    assert result.agree, result.problems
    assert result.max_prob_diff == pytest.approx(0.01)
    assert result.min_iou == pytest.approx(79 * 80 / (2 * 80 * 80 - 79 * 80))


def test_probability_beyond_tolerance_is_named(tmp_path) -> None:
    ref = write_jsonl(tmp_path / "ref.jsonl", frames([face()]))
    cand = write_jsonl(tmp_path / "cand.jsonl", frames([face(happy=0.77, sad=0.06)]))
    result = compare.compare_files(ref, cand, tol=0.02)
    assert not result.agree
    assert result.max_prob_diff == pytest.approx(0.03)
    assert result.problems == ["frame 0, face at [100, 50, 80, 80]: probabilities differ by up to 0.0300 (> 0.02)"]


def test_other_label_and_missing_face_and_frame_are_problems(tmp_path) -> None:
    ref = write_jsonl(tmp_path / "ref.jsonl", frames([face()], [face(), face((300, 40, 60, 60))], [face()]))
    cand = write_jsonl(
        tmp_path / "cand.jsonl", frames([face(label="sad", happy=0.4, sad=0.43)], [face((102, 51, 80, 80))])
    )
    problems = compare.compare_files(ref, cand, tol=0.02).problems
    assert "frame 0, face at [100, 50, 80, 80]: label happy in the reference, sad in the candidate" in problems
    assert "frame 1: 2 faces in the reference, 1 in the candidate" in problems
    assert "frame 2: only in the reference" in problems


def test_a_face_that_moved_is_not_the_same_face(tmp_path) -> None:
    ref = write_jsonl(tmp_path / "ref.jsonl", frames([face((100, 50, 80, 80))]))
    cand = write_jsonl(tmp_path / "cand.jsonl", frames([face((150, 50, 80, 80))]))
    result = compare.compare_files(ref, cand, min_iou=0.5)
    assert not result.agree
    assert "overlaps it only 0.23" in result.problems[0]


def test_predict_records_pair_by_image(tmp_path) -> None:
    ref = write_jsonl(tmp_path / "ref.json", [{"image": "a.jpg", "faces": [face()]}, {"image": "b.jpg", "faces": []}])
    cand = write_jsonl(tmp_path / "cand.json", [{"image": "b.jpg", "faces": []}, {"image": "a.jpg", "faces": [face()]}])
    result = compare.compare_files(ref, cand)
    assert result.agree and result.records == 2 and result.faces == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no records"),
        ("{not json\n", "not JSON"),
        ('{"frame": 0}\n', "'faces' list"),
        ('{"faces": []}\n', "'frame' or 'image'"),
        ('{"frame": 0, "faces": [{"box": [1, 2]}]}\n', "a face needs 'box'"),
    ],
)
def test_unusable_files_are_refused(tmp_path, text, message) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(compare.OutputError, match=message):
        compare.load_records(path)


def test_compare_cli_exit_codes_and_json(tmp_path, capsys) -> None:
    ref = write_jsonl(tmp_path / "ref.jsonl", frames([face()]))
    cand = write_jsonl(tmp_path / "cand.jsonl", frames([face(happy=0.70, angry=0.15)]))
    assert compare.main([str(ref), str(ref), "--json", "--case", "a72 clip", "--group", "same-pixels"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row == {
        "case": "a72 clip",
        "group": "same-pixels",
        "agree": True,
        "tol": 0.02,
        "records": 1,
        "faces": 1,
        "max_prob_diff": 0.0,
        "min_iou": 1.0,
        "problems": [],
    }
    assert compare.main([str(ref), str(cand)]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("DIFFER (1 differences): 1 records, 1 faces paired, max probability difference 0.1000")
    assert "probabilities differ by up to 0.1000" in err
    assert compare.main([str(ref), str(tmp_path / "missing.jsonl")]) == 2
    assert capsys.readouterr().err.startswith("compare_outputs: error: ")


# --- aarch64_verdict ---------------------------------------------------------------------------------------


def row(case: str, group: str, agree: bool = True, diff: float = 0.0, tol: float = 0.02, faces: int = 6) -> dict:
    problems = [] if agree else [f"frame 3, face at [1, 2, 3, 3]: probabilities differ by up to {diff:.4f} (> {tol})"]
    return {"case": case, "group": group, "agree": agree, "tol": tol, "faces": faces, "max_prob_diff": diff,
            "problems": problems}  # fmt: skip


def test_verdict_pass_line_sums_up_groups() -> None:
    rows = [
        row("cortex-a72 predict-tflite", "same-pixels"),
        row("cortex-a72 clip-onnx", "same-pixels", diff=0.004, faces=30),
        row("cortex-a72 mp4-tflite", "decoded", diff=0.0227, tol=0.05, faces=30),
    ]
    passed, line = verdict.verdict_line(rows, "edge-fer 0.1.0 on qemu", date="2026-11-29")
    assert passed
    assert line == (
        "aarch64: PASS (2026-11-29) edge-fer 0.1.0 on qemu: 3 of 3 runs agree with x86: same faces and labels, "
        "66 faces; max probability difference 0.0040 on identical pixels (tol 0.02), 0.0227 on the H.264 video "
        "each platform decodes itself (tol 0.05)"
    )


def test_verdict_fail_line_names_the_first_difference(tmp_path, capsys) -> None:
    rows = [row("cortex-a76 predict-onnx", "same-pixels"), row("cortex-a76 clip-tflite", "same-pixels", False, 0.05)]
    path = write_jsonl(tmp_path / "comparisons.jsonl", rows)
    assert verdict.main([str(path), "--date", "2026-11-29"]) == 1
    line = capsys.readouterr().out.strip()
    assert line.startswith("aarch64: FAIL (2026-11-29): 1 of 2 runs agree with x86: 12 faces;")
    assert line.endswith("first difference: cortex-a76 clip-tflite: frame 3, face at [1, 2, 3, 3]: "
                         "probabilities differ by up to 0.0500 (> 0.02)")  # fmt: skip


def test_verdict_refuses_unusable_input(tmp_path, capsys) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert verdict.main([str(empty)]) == 2
    assert "no comparisons" in capsys.readouterr().err
    odd = write_jsonl(tmp_path / "odd.jsonl", [{"case": "x"}])
    with pytest.raises(verdict.VerdictError, match=r"not a compare_outputs\.py --json object"):
        verdict.load_comparisons(odd)


# --- wheel_requirements ------------------------------------------------------------------------------------

REQUIRES = [
    "numpy>=1.24",
    "opencv-python>=4.8",
    "typer>=0.12",
    "ai-edge-litert>=1.2; platform_system != 'Windows'",
    "onnxruntime>=1.17; extra == 'onnx'",
    "tensorflow-cpu>=2.16; platform_machine == 'x86_64' and extra == 'train'",
    "tensorflow>=2.16; platform_machine != 'x86_64' and extra == 'train'",
    "pytest>=8; extra == 'dev'",
]


def test_requirements_for_aarch64_swap_opencv_and_evaluate_markers_for_the_target() -> None:
    assert wheelreq.runtime_requirements(REQUIRES, ["onnx"], "aarch64", "3.11") == [
        "numpy>=1.24",
        "opencv-python-headless>=4.8",
        "typer>=0.12",
        "ai-edge-litert>=1.2",
        "onnxruntime>=1.17",
    ]
    # the target's machine decides, not the host's: aarch64 takes tensorflow, x86_64 tensorflow-cpu
    assert "tensorflow>=2.16" in wheelreq.runtime_requirements(REQUIRES, ["train"], "aarch64", "3.11")
    assert "tensorflow-cpu>=2.16" in wheelreq.runtime_requirements(REQUIRES, ["train"], "x86_64", "3.11")
    assert wheelreq.runtime_requirements(REQUIRES, [], "aarch64", "3.11", headless=False)[1] == "opencv-python>=4.8"


def test_headless_opencv_listed_beside_the_gui_one_is_kept_once() -> None:
    reqs = ["opencv-python-headless>=4.9", "opencv_python>=4.8", "rich[jupyter]>=13"]
    assert wheelreq.runtime_requirements(reqs, [], "aarch64", "3.11") == [
        "opencv-python-headless>=4.9",
        "rich[jupyter]>=13",
    ]


def _fake_wheel(path: Path, requires: list[str]) -> Path:
    meta = "Metadata-Version: 2.1\nName: edge-fer\nVersion: 0.1.0\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("edge_fer/__init__.py", "")
        zf.writestr("edge_fer-0.1.0.dist-info/METADATA", meta)
    return path


def test_requirements_cli_reads_the_wheel(tmp_path, capsys) -> None:
    wheel = _fake_wheel(tmp_path / "edge_fer-0.1.0-py3-none-any.whl", REQUIRES)
    assert wheelreq.main([str(wheel), "--extra", "onnx"]) == 0
    assert capsys.readouterr().out.split() == [
        "numpy>=1.24",
        "opencv-python-headless>=4.8",
        "typer>=0.12",
        "ai-edge-litert>=1.2",
        "onnxruntime>=1.17",
    ]
    not_a_wheel = tmp_path / "x.whl"
    not_a_wheel.write_text("hello")
    assert wheelreq.main([str(not_a_wheel)]) == 2
    assert capsys.readouterr().err.startswith("wheel_requirements: error: ")


def test_the_project_wheel_metadata_resolves_for_aarch64() -> None:
    """pyproject.toml's own dependencies: the runtime on aarch64 has no TensorFlow and a headless OpenCV."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requires = project["dependencies"] + [f"{r}; extra == 'onnx'" for r in project["optional-dependencies"]["onnx"]]
    names = [
        r.split(">")[0].split("=")[0] for r in wheelreq.runtime_requirements(requires, ["onnx"], "aarch64", "3.11")
    ]
    assert "onnxruntime" in names and "ai-edge-litert" in names
    assert not any(n.startswith("tensorflow") or n == "opencv-python" for n in names)


# --- lossless_clip -----------------------------------------------------------------------------------------


def test_lossless_clip_round_trips_exactly(tmp_path) -> None:
    clip = load_benchmark("lossless_clip")
    rng = np.random.default_rng(0)
    made = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(5)]
    out = clip.write_lossless(made, tmp_path / "clip.mkv")
    back = clip.read_all(out)
    assert len(back) == 5 and all(np.array_equal(a, b) for a, b in zip(back, made))
    with pytest.raises(clip.ClipError, match="no frames"):
        clip.write_lossless([], tmp_path / "empty.mkv")


# --- aarch64.sh argument handling (all refused before anything is fetched) ----------------------------------


def _script(tmp_path: Path, *args: str, shared: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "EDGE_FER_AARCH64_CACHE": str(tmp_path / "cache"), "PYTHON": sys.executable}
    if shared is not None:
        env["EDGE_FER_SHARED"] = str(shared)
    return subprocess.run(
        ["bash", str(BENCH / "aarch64.sh"), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_script_help(tmp_path) -> None:
    proc = _script(tmp_path, "--help")
    assert proc.returncode == 0
    assert "nice -n 10 bash benchmarks/aarch64.sh" in proc.stdout and "--video-tol P" in proc.stdout
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "unknown argument '--bogus'"),
        (["--cpus", "max"], "unknown CPU 'max'"),
        (["--cpus", ","], "--cpus is empty"),
        (["--frames", "0"], "--frames '0'"),
        (["--tol", "lots"], "--tol 'lots'"),
        (["--out"], "--out needs a value"),
    ],
)
def test_script_refuses_bad_arguments(tmp_path, args, message) -> None:
    proc = _script(tmp_path, *args)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()] and proc.stderr.startswith("aarch64.sh: error: ")
    assert message in proc.stderr
    assert proc.stdout == "" and not (tmp_path / "cache").exists()


def test_script_refuses_missing_media(tmp_path) -> None:
    proc = _script(tmp_path, shared=tmp_path / "nowhere")
    assert proc.returncode == 2
    assert proc.stderr.startswith("aarch64.sh: error: ") and len(proc.stderr.splitlines()) == 1
    assert not (tmp_path / "cache").exists()
