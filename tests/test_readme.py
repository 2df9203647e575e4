"""The README runs as written: every command of its ```bash blocks is run here or skipped for a stated reason.

Each command runs through ``bash`` exactly as the README prints it, in a fresh folder laid out like a clone
of the repository beside the shared data: ``assets/`` (the shipped models), ``../shared`` (``$EDGE_FER_SHARED``)
and the few input files the README assumes (``photo.jpg``, ``video.mp4``, ``some_face.jpg``, the run folder
``runs/edgefer-s`` that ``train`` would have made). A command added to the README without a decision below
fails :func:`test_every_readme_command_has_a_decision`; so does a decision whose command left the README.
Every ```python block runs too, on the shared photo and video.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import FER_DIR, MEDIA_DIR, REPO, SHARED

README = REPO / "README.md"
FER = "fer"  # needs the shared FER2013 folders
MEDIA = "media"  # needs the shared photo and video
CASES = "cases"  # needs the shared failing cases (../shared/cases)
RAY = "ray"  # needs the ray extra installed
RUN = "run"  # needs runs/edgefer-s/best.keras: the shipped Keras model stands in for a trained run
COMMAND_TIMEOUT_S = 600


@dataclass(frozen=True)
class Run:
    """Run the command; it must exit 0, print no error and write ``writes`` (paths in its folder)."""

    needs: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    slow: bool = False


@dataclass(frozen=True)
class Skip:
    """Not run here, for this reason."""

    reason: str


RAY_CLUSTER = "sets up or uses a Ray cluster of two machines (10.0.0.1, /mnt): not available here"
ON_A_PI = "sets up a Raspberry Pi (system packages, its own venv); benchmarks/aarch64.sh checks that install"
#: The README's two-worker example on one machine (INDEX: the worker's index).
TWO_WORKERS = (
    'TF_CONFIG=\'{"cluster": {"worker": ["127.0.0.1:23456", "127.0.0.1:23457"]}, "task": {"type": "worker", '
    '"index": INDEX}}\' edge-fer train --data ../shared/datasets/fer2013 --arch edgefer-xs --epochs 1 '
    "--out runs/two-workers"
)
TWO_WORKERS_TOGETHER = (
    "two workers that run together, an epoch of all FER2013 (minutes); tests/test_distributed.py runs the same "
    "two-worker training on small data"
)
TRAINS_FOR_HOURS = "trains on FER2013 for hours; the training path is tested on small data in test_train.py"
DECISIONS: dict[str, Run | Skip] = {
    # Quick start
    "git clone <this repository> edge-fer && cd edge-fer": Skip("the tests run inside a clone already"),
    "edge-fer webcam": Skip("needs a camera and a display"),
    "edge-fer webcam --source video.mp4 --headless --json-out frames.jsonl --output annotated.mp4": Run(
        (MEDIA,), ("frames.jsonl", "annotated.mp4")
    ),
    "edge-fer predict photo.jpg --save-annotated out/": Run((MEDIA,), ("out/photo.jpg",)),
    "edge-fer predict ../shared/media/woman-with-phone.mp4 --out results/": Run(
        (MEDIA,),
        (
            "results/woman-with-phone.csv",
            "results/woman-with-phone.summary.json",
            "results/woman-with-phone.timeline.png",
        ),
    ),
    "python -m pytest -q": Skip("the test suite itself"),
    # Install: runtime only, and headless
    "python -m pip install .": Skip("installs packages; the tests run in an installed environment"),
    "edge-fer predict ../shared/media/group-six-faces.jpg": Run((MEDIA,)),
    'python -m pip install "numpy>=1.24" "typer>=0.12" "rich>=13" "pillow>=10" "ai-edge-litert>=1.2" '
    '"opencv-python-headless>=4.8"': Skip("installs packages (the headless OpenCV) into the environment"),
    "python -m pip install --no-deps .": Skip("installs packages; the tests run in an installed environment"),
    # Recordings
    "edge-fer predict ../shared/cases ../shared/media --recursive --out archive/ --save-annotated archive/": Run(
        (MEDIA, CASES),
        (
            "archive/predictions.csv",
            "archive/woman-with-phone.csv",
            "archive/vfr-40frames.summary.json",
            "archive/truncated-half.timeline.png",
            "archive/woman-with-phone.annotated.mp4",
        ),
    ),
    # Scale out: an archive on Ray
    'python -m pip install -e ".[dev,ray]"': Skip("installs packages; the tests run in an installed environment"),
    "edge-fer predict ../shared/media --out results/ --engine ray": Run(
        (MEDIA, RAY), ("results/woman-with-phone.csv", "results/predictions.csv"), slow=True
    ),
    "edge-fer predict ../shared/media --out results/ --engine ray --workers 2 --threads 1": Run(
        (MEDIA, RAY), ("results/woman-with-phone.csv", "results/predictions.csv"), slow=True
    ),
    "ray start --head --port 6379 --include-dashboard=false": Skip(RAY_CLUSTER),
    "ray get-auth-token": Skip(RAY_CLUSTER),
    "export RAY_AUTH_MODE=token RAY_AUTH_TOKEN=<the token>": Skip(RAY_CLUSTER),
    "ray start --address 10.0.0.1:6379": Skip(RAY_CLUSTER),
    "export RAY_AUTH_MODE=token": Skip(RAY_CLUSTER),
    "edge-fer predict /mnt/archive --recursive --out /mnt/results --engine ray --ray-address 10.0.0.1:6379": Skip(
        RAY_CLUSTER
    ),
    "ray stop": Skip(RAY_CLUSTER),
    # Raspberry Pi
    "sudo apt update && sudo apt install -y git python3-venv": Skip(ON_A_PI),
    "python3 -m venv ~/edge-fer-env && source ~/edge-fer-env/bin/activate": Skip(ON_A_PI),
    'pip install "numpy>=1.24" "opencv-python-headless>=4.8" "typer>=0.12" "rich>=13" "ai-edge-litert>=1.2" '
    '"onnxruntime>=1.17"': Skip(ON_A_PI),
    "pip install --no-deps .": Skip(ON_A_PI),
    "edge-fer predict photo.jpg --json": Run((MEDIA,)),
    "edge-fer webcam --source 0 --headless --threads 4 --json-out frames.jsonl": Skip("needs a camera"),
    # How the shipped model was made
    "edge-fer train --data ../shared/datasets/fer2013 --arch edgefer-s --out runs/edgefer-s-ceq-scratch --epochs 30 "
    "--lr 0.001 --weight-decay 0.0001 --warmup-epochs 1 --monitor val_accuracy --patience 40 "
    "--normalize equalize_center --precision mixed_bfloat16": Skip(TRAINS_FOR_HOURS),
    "edge-fer train --resume runs/edgefer-s-ceq-scratch --epochs 45": Skip(TRAINS_FOR_HOURS),
    "edge-fer train --resume runs/edgefer-s-ceq-scratch --epochs 90": Skip(TRAINS_FOR_HOURS),
    "edge-fer export runs/edgefer-s-ceq-scratch/best.keras --formats tflite-fp32,tflite-int8,onnx "
    "--data ../shared/datasets/fer2013 --flip-budget 0.3 --tta-roll 8 --name edgefer-s --out runs/release": Skip(
        "needs the 90-epoch run above; export with --flip-budget and --tta-roll is tested in test_tta.py"
    ),
    "edge-fer export runs/edgefer-s-kd/best.keras --formats tflite-fp32,tflite-int8,onnx "
    "--data ../shared/datasets/fer2013 --flip-budget 0.3 --tta-roll 8 --name edgefer-s --out runs/release": Skip(
        "needs the distillation run above (6-10 minutes); export runs on small data in test_export.py"
    ),
    "edge-fer card runs/edgefer-s-kd --export-dir runs/release --val ../shared/datasets/fer2013/val": Skip(
        "needs the distillation run and its export; card runs on small data in test_modelcard.py"
    ),
    "edge-fer card runs/edgefer-s-ceq-scratch --export-dir runs/release --val ../shared/datasets/fer2013/val": Skip(
        "needs the 90-epoch run above; `edge-fer card` on an exported run is tested in test_modelcard.py"
    ),
    # Train
    "edge-fer data check ../shared/datasets/fer2013/train": Run((FER,)),
    "edge-fer train --data ../shared/datasets/fer2013 --arch edgefer-s --out runs/edgefer-s --epochs 40 "
    "--lr 1e-3 --warmup-epochs 1 --weight-decay 1e-4 --monitor val_accuracy --patience 40": Skip(TRAINS_FOR_HOURS),
    "edge-fer evaluate runs/edgefer-s/best.keras --data ../shared/datasets/fer2013/val": Run(
        (FER, RUN), ("runs/evaluate/best_val_confusion.png", "runs/evaluate/best_val_eval.json"), slow=True
    ),
    "mkdir -p runs && git show e2aec41:assets/edgefer-s.keras > runs/v3.keras "
    "&& git show e2aec41:assets/edgefer-s.json > runs/v3.json": Skip(
        "needs the repository's git history; test_shipped_model.py checks that commit e2aec41 holds v3"
    ),
    "edge-fer data reframe ../shared/datasets/fer2013 runs/fer2013-reframed --model runs/v3.keras": Skip(
        "writes 26,316 crops beside 28,709 linked faces (a minute); the command runs on shared faces in test_reframe.py"
    ),
    "edge-fer train --data runs/fer2013-reframed --arch edgefer-s --out runs/edgefer-s-kd --epochs 3 "
    "--init-from runs/v3.keras --teacher runs/v3.keras --normalize equalize_center "
    "--lr 1e-4 --warmup-epochs 0 --schedule constant --augment none --flip --label-smoothing 0 --weight-decay 0 "
    "--monitor val_accuracy": Skip(
        "fine-tunes on 55,025 faces for 6 minutes; `train --teacher` runs on small data in test_distill.py"
    ),
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\' '
    "edge-fer train --data /data/fer2013 --arch edgefer-s --out /shared/runs/edgefer-s": Skip(
        "needs two hosts and trains for hours"
    ),
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 1}}\' '
    "edge-fer train --data /data/fer2013 --arch edgefer-s --out /shared/runs/edgefer-s": Skip(
        "needs two hosts and trains for hours"
    ),
    TWO_WORKERS.replace("INDEX", "1") + " &": Skip(TWO_WORKERS_TOGETHER),
    TWO_WORKERS.replace("INDEX", "0"): Skip(TWO_WORKERS_TOGETHER),
    # Export
    "edge-fer export runs/edgefer-s/best.keras --int8 --data ../shared/datasets/fer2013": Run(
        (FER, RUN), ("runs/edgefer-s/export/best_int8.tflite", "runs/edgefer-s/export/parity.json"), slow=True
    ),
    "edge-fer export runs/edgefer-s/best.keras --formats all --data ../shared/datasets/fer2013": Skip(
        "converts to every format (minutes); each format is tested on small models in test_export.py"
    ),
    # Bench
    "edge-fer bench assets/edgefer-s_int8.tflite": Run(),
    "edge-fer bench assets/edgefer-s_int8.tflite assets/edgefer-s_onnx.onnx --threads 1,2 --batch 1,8 --json": Run(
        slow=True
    ),
    "edge-fer bench --pipeline ../shared/media/woman-with-phone.mp4": Run((MEDIA,)),
    "python benchmarks/vs_fer.py --fer-python ~/fer-env/bin/python": Skip(
        "needs the `fer` package in an environment of its own (~/fer-env)"
    ),
    "python benchmarks/soak.py": Skip("a 20,000-frame soak benchmark: minutes"),
    # Look inside a model
    "edge-fer explain assets/edgefer-s.keras ../shared/media/group-six-faces.jpg --method gradcam --out runs/explain": (
        Run((MEDIA,), ("runs/explain/group-six-faces_gradcam.png",), slow=True)
    ),
    "edge-fer filters assets/edgefer-s.keras --layer s3b2_conv --face some_face.jpg --out runs/filters": Run(
        (FER,), ("runs/filters/filters_s3b2_conv.png", "runs/filters/feature_maps_s3b2_conv.png"), slow=True
    ),
    "edge-fer evaluate assets/edgefer-s_int8.tflite --data ../shared/datasets/fer2013/val": Run(
        (FER,), ("runs/evaluate/edgefer-s_int8_val_confusion.png", "runs/evaluate/edgefer-s_int8_val_eval.json")
    ),
    "edge-fer sweep --preset seed002 --data ../shared/datasets/fer2013 --epochs 20 --out runs/sweep": Skip(
        "trains six CNNs for 20 epochs each (hours); `sweep --quick` is tested in test_experiments.py"
    ),
    "edge-fer train --data DIR --arch edgefer-s --out runs/pl --label-smoothing 0 --pseudo-label UNLABELLED_DIR "
    "--threshold 0.9": Skip("DIR and UNLABELLED_DIR are placeholders, and it trains for hours"),
    "edge-fer experiment pseudo-label --data ../shared/datasets/fer2013 --out runs/pseudo-label": Skip(
        "trains for hours; `--quick` is tested in test_experiments.py"
    ),
    "edge-fer experiment cnn-vs-dnn --data ../shared/datasets/fer2013 --out runs/cnn-vs-dnn": Skip(
        "trains for hours; `--quick` is tested in test_experiments.py"
    ),
    # The shipped model: measure it yourself
    "edge-fer evaluate assets/edgefer-s_int8.tflite --data ../shared/datasets/fer2013/val --tta none": Run(
        (FER,), ("runs/evaluate/edgefer-s_int8_val_tta-none_confusion.png",)
    ),
    "edge-fer bench assets/edgefer-s_int8.tflite --tta model --faces ../shared/datasets/fer2013/val --runs 2000": Run(
        (FER,)
    ),
}


def strip_comment(line: str) -> str:
    """``line`` without its shell comment: a ``#`` outside quotes that starts a word."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def readme_commands(text: str) -> list[str]:
    """The commands of every ```bash block, in order: comments dropped, backslash-continued lines joined
    with one space, blank lines skipped."""
    commands: list[str] = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        pending = ""
        for raw in block.splitlines():
            line = strip_comment(raw)
            if line.endswith("\\"):
                pending += line[:-1].strip() + " "
                continue
            command = (pending + line.strip()).strip()
            pending = ""
            if command:
                commands.append(command)
    return commands


COMMANDS = list(dict.fromkeys(readme_commands(README.read_text(encoding="utf-8"))))
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_readme_parsing() -> None:
    text = "x\n```bash\na --b \\\n    --c 'd # e'   # comment\n# only a comment\n\nf#g\n```\n```python\nno\n```\n"
    assert readme_commands(text) == ["a --b --c 'd # e'", "f#g"]


def test_every_readme_command_has_a_decision() -> None:
    undecided = [c for c in COMMANDS if c not in DECISIONS]
    assert not undecided, f"README commands with no decision in tests/test_readme.py (run or skip): {undecided}"
    stale = [c for c in DECISIONS if c not in COMMANDS]
    assert not stale, f"decisions for commands no longer in the README: {stale}"


def _param(command: str):
    decision = DECISIONS.get(command)
    if isinstance(decision, Skip):
        return pytest.param(command, marks=pytest.mark.skip(reason=decision.reason), id=command[:80])
    marks = []
    if decision is not None and {FER, MEDIA, CASES} & set(decision.needs):
        marks.append(pytest.mark.shared)
    if decision is not None and decision.slow:
        marks.append(pytest.mark.slow)
    return pytest.param(command, marks=marks, id=command[:80])


def _workspace(root: Path, needs: tuple[str, ...]) -> Path:
    """A folder laid out like a clone beside ../shared, with the inputs the command assumes."""
    if FER in needs and not (FER_DIR / "val").is_dir():
        pytest.skip(f"shared FER2013 not found at {FER_DIR} (set EDGE_FER_SHARED)")
    if MEDIA in needs and not (MEDIA_DIR / "group-six-faces.jpg").is_file():
        pytest.skip(f"shared media not found at {MEDIA_DIR} (set EDGE_FER_SHARED)")
    if RAY in needs and importlib.util.find_spec("ray") is None:
        pytest.skip("the ray extra is not installed (pip install 'edge-fer[ray]')")
    if CASES in needs and not (SHARED / "cases" / "vfr-40frames.mp4").is_file():
        pytest.skip(f"shared cases not found at {SHARED / 'cases'} (set EDGE_FER_SHARED)")
    work = root / "edge-fer"
    work.mkdir()
    (work / "assets").symlink_to(REPO / "assets", target_is_directory=True)
    if SHARED.is_dir():
        (root / "shared").symlink_to(SHARED.resolve(), target_is_directory=True)
    if MEDIA in needs:
        (work / "photo.jpg").symlink_to(MEDIA_DIR / "group-six-faces.jpg")
        (work / "video.mp4").symlink_to(MEDIA_DIR / "woman-with-phone.mp4")
    if FER in needs:
        shutil.copy(next(iter(sorted((FER_DIR / "val" / "happy").iterdir()))), work / "some_face.jpg")
    if RUN in needs:
        run = work / "runs" / "edgefer-s"
        run.mkdir(parents=True)
        shutil.copy(REPO / "assets" / "edgefer-s.keras", run / "best.keras")
        shutil.copy(REPO / "assets" / "edgefer-s.json", run / "best.json")
    return work


@pytest.mark.parametrize("command", [_param(c) for c in COMMANDS])
def test_readme_command_runs_as_written(command: str, tmp_path: Path) -> None:
    decision = DECISIONS.get(command)
    assert isinstance(decision, Run), f"no decision for README command {command!r}"
    work = _workspace(tmp_path, decision.needs)
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    proc = subprocess.run(
        ["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
    )
    assert proc.returncode == 0, f"{command}\nexit {proc.returncode}\n{proc.stderr[-3000:]}"
    assert "error" not in proc.stderr.lower() and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert (proc.stdout + proc.stderr).strip(), "the command printed nothing"
    missing = [p for p in decision.writes if not (work / p).is_file() or (work / p).stat().st_size == 0]
    assert not missing, f"{command} did not write {missing}"


@pytest.mark.shared
def test_readme_python_runs_as_written(tmp_path: Path) -> None:
    """The Python examples, in order as one session (a later block uses an earlier one's ``rec``), on the shared
    photo and video (as ``photo.jpg`` and ``video.mp4``). Lines the README marks "needs pandas" (not an
    edge-fer dependency) run where pandas is installed."""
    work = _workspace(tmp_path, (MEDIA,))
    code = "\n".join(PYTHON_BLOCKS)
    if importlib.util.find_spec("pandas") is None:
        code = "\n".join(line for line in code.splitlines() if "needs pandas" not in line)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=work, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() and "Traceback" not in proc.stderr, proc.stderr[-3000:]
