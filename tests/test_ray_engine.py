"""An archive on Ray (``predict --out DIR --engine ray``): the same files as the local engine, a worker killed
mid-video retried without lost or doubled rows, failures reported without stopping the others, Ctrl-C, and
the optional extra. One local Ray instance (2 CPUs) serves the module; skipped where Ray is not installed."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest
from conftest import MEDIA_DIR, REPO
from runtime_models import write_video

from edge_fer.analysis import AnalysisSettings, analyze_video_to
from edge_fer.archive import ArchiveHooks, analyze_archive, collect_media
from edge_fer.recognizer import recognizer_for

SETTINGS = AnalysisSettings(threads=1)


@pytest.fixture(scope="module")
def ray_module():
    """The ``ray`` module; skips where the extra is not installed."""
    return pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray(ray_module):
    """A local Ray instance for the module: its start-up (seconds) is paid once. ``ray.init`` replaces the
    process's SIGTERM handler: put back, for the rest of the suite."""
    previous = signal.getsignal(signal.SIGTERM)
    ray_module.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray_module
    ray_module.shutdown()
    signal.signal(signal.SIGTERM, previous)


def _frames(path: Path) -> list[int]:
    with open(path, newline="", encoding="utf-8") as f:
        return [int(row["frame"]) for row in csv.DictReader(f)]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _same_files(a: Path, b: Path, names: list[str]) -> None:
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.shared
def test_ray_writes_the_local_engines_files_byte_for_byte(local_ray, tmp_path) -> None:
    """The shared clip (115 frames, one face) twice: CSV, summary and timeline equal the local engine's."""
    video = MEDIA_DIR / "woman-with-phone.mp4"
    if not video.is_file():
        pytest.skip(f"shared media not found at {MEDIA_DIR} (set EDGE_FER_SHARED)")
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(video, src / name)
    local = analyze_archive([src], tmp_path / "local", SETTINGS)
    shown: list[int] = []
    hooks = ArchiveHooks(frames=lambda done, total: shown.append(done))
    on_ray = analyze_archive([src], tmp_path / "ray", SETTINGS, engine="ray", workers=2, hooks=hooks)
    assert shown[-1] == 230 and shown == sorted(shown)  # all workers' frames, never going back
    assert [o.item.name for o in local.analysed] == ["a", "b"] and not local.failed
    assert sorted(o.item.name for o in on_ray.analysed) == ["a", "b"] and not on_ray.failed
    names = [f"{s}{x}" for s in "ab" for x in (".csv", ".summary.json", ".timeline.png")]
    assert _files(tmp_path / "ray") == sorted(names)
    _same_files(tmp_path / "local", tmp_path / "ray", names)
    with open(tmp_path / "ray" / "a.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["frame"]) for r in rows] == list(range(115)) and {r["track_id"] for r in rows} == {"1"}
    # A rerun finds everything finished: nothing is redone and Ray is not needed for it.
    again = analyze_archive([src], tmp_path / "ray", SETTINGS, engine="ray")
    assert len(again.skipped) == 2 and not again.analysed


def test_damaged_video_is_reported_and_the_others_finish(local_ray, cli, tmp_path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    write_video(src / "a.mp4", n=6)
    write_video(src / "c.mp4", n=4, value=150)
    (src / "b.mp4").write_text("not a video")
    code, _, err = cli("predict", src, "--out", out, "--engine", "ray", "--workers", "2", "--threads", "1")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "b.mp4" in line]
    assert len(warnings) == 1 and "skipped" in warnings[0] and "ffmpeg" in warnings[0]
    assert err.strip().splitlines()[-1] == "2 videos analysed; 1 failed (see above)"
    assert _files(out) == [f"{s}{x}" for s in "ac" for x in (".csv", ".summary.json", ".timeline.png")]
    assert _frames(out / "a.csv") == list(range(6)) and _frames(out / "c.csv") == list(range(4))
    local = tmp_path / "local"
    analyze_video_to(src / "a.mp4", local, SETTINGS, recognizer_for(SETTINGS))
    _same_files(local, out, ["a.csv", "a.summary.json"])
    # Named on the command line, the damaged file is an error (exit 2, one line), after the others are done.
    code, _, err = cli("predict", src / "b.mp4", src / "a.mp4", "--out", out, "--engine", "ray", "--force")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and lines[-1].startswith("edge-fer: error: video") and "b.mp4" in lines[-1]


def _kill_mid_video(engine, stem: str, parts: Path, at_frame: int) -> int:
    """Wait until a worker is ``at_frame`` frames into ``stem`` with a temporary file beside the outputs, then
    SIGKILL that worker's process (its PID as the actor reports it). Returns the PID."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for status in engine.statuses():
            if status.video == stem and status.frames >= at_frame and list(parts.glob(f".{stem}.*.part.*")):
                os.kill(status.pid, signal.SIGKILL)
                return status.pid
        time.sleep(0.05)
    raise AssertionError(f"no worker got {at_frame} frames into {stem}")


def _run_in_thread(engine, jobs) -> tuple[threading.Thread, list]:
    results: list = []
    thread = threading.Thread(target=lambda: results.extend(engine.run(jobs)), daemon=True)
    thread.start()
    return thread, results


def _jobs(src: Path) -> list:
    from edge_fer.ray_engine import VideoJob

    items = collect_media([src])
    return [VideoJob(k, str(i.path), i.name, str(i.path)) for k, i in enumerate(items)]


def test_worker_killed_mid_video_is_retried_without_lost_or_doubled_rows(local_ray, tmp_path) -> None:
    from edge_fer.ray_engine import RayVideoEngine

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    write_video(src / "a.mp4", n=5)
    write_video(src / "b.mp4", n=800)
    settings = AnalysisSettings(threads=1, annotate=True)
    with RayVideoEngine(settings, out, workers=2) as engine:
        engine.start(2)
        thread, results = _run_in_thread(engine, _jobs(src))
        pid = _kill_mid_video(engine, "b", out, at_frame=40)
        thread.join(timeout=240)
        assert not thread.is_alive()
        assert pid not in [s.pid for s in engine.statuses()]  # b's worker is a new process
    assert sorted((r.key, r.error) for r in results) == [(0, None), (1, None)]
    # The retry's table has every frame once: nothing lost or doubled by the killed attempt.
    assert _frames(out / "b.csv") == list(range(800))
    names = [f"{s}{x}" for s in "ab" for x in (".annotated.mp4", ".csv", ".summary.json", ".timeline.png")]
    assert _files(out) == sorted(names)  # and the killed attempt's temporary files are gone
    local = tmp_path / "local"
    analyze_video_to(src / "b.mp4", local, settings, recognizer_for(settings))
    _same_files(local, out, ["b.csv", "b.summary.json"])
    assert int(cv2.VideoCapture(str(out / "b.annotated.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == 800


def test_worker_dying_on_every_attempt_fails_its_video_only(local_ray, tmp_path) -> None:
    """One attempt allowed: the killed worker's video is reported failed, the other video finishes."""
    from edge_fer.ray_engine import RayVideoEngine

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    write_video(src / "a.mp4", n=800)
    write_video(src / "b.mp4", n=30)
    with RayVideoEngine(AnalysisSettings(threads=1, annotate=True), out, workers=2, attempts=1) as engine:
        engine.start(2)
        thread, results = _run_in_thread(engine, _jobs(src))
        _kill_mid_video(engine, "a", out, at_frame=20)
        thread.join(timeout=240)
    by_key = {r.key: r for r in results}
    assert by_key[0].kind == "worker" and "died on each of 1 attempts" in by_key[0].error
    assert by_key[1].error is None and _frames(out / "b.csv") == list(range(30))
    assert _files(out) == [f"b{x}" for x in (".annotated.mp4", ".csv", ".summary.json", ".timeline.png")]


def test_ctrl_c_stops_a_ray_run_cleanly(ray_module, tmp_path) -> None:
    """A real process with its own local Ray, interrupted (SIGINT, as Ctrl-C) in a video: exit 130, one line,
    no partial file; the rerun finishes it."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    write_video(src / "a.mp4", n=3000)
    cmd = [sys.executable, "-m", "edge_fer", "predict", str(src), "--out", str(out), "--save-annotated", str(out)]
    cmd += ["--engine", "ray", "--workers", "1", "--threads", "1"]
    # Its own session, signalled as a group: as Ctrl-C in a terminal reaches the driver and Ray's processes. With
    # SIGINT at its default, as in a terminal: a test run started in the background (`pytest ... &`) ignores SIGINT,
    # its children inherit that, and Python then installs no Ctrl-C handler.
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not list(out.glob(".a.*.part.mp4")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1]
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, err = proc.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 130, err
    assert len(lines) == 1 and lines[0].startswith("edge-fer: error: interrupted on Ray") and "rerun" in lines[0]
    assert list(out.iterdir()) == []
    assert stdout == ""  # Ray's own notes (the task killed, retries left) go to the debug log, not the results


def test_missing_extra_is_one_line_and_local_runs_without_ray(tmp_path) -> None:
    """With ``ray`` unimportable: the local engine works (nothing imports Ray), ``--engine ray`` says what to
    install in one line, exit 2."""
    from test_layering import _blocked_python

    video = write_video(tmp_path / "clip.mp4", n=3)
    code = """
    import sys
    from edge_fer.cli import main
    sys.argv = ["edge-fer", "predict", *sys.argv[1:]]
    main()
    """
    local = _blocked_python(("ray",), code, str(video), "--out", str(tmp_path / "local"), "--threads", "1")
    assert local.returncode == 0, local.stderr
    assert _files(tmp_path / "local") == ["clip.csv", "clip.summary.json", "clip.timeline.png"]
    done = _blocked_python(("ray",), code, str(video), "--out", str(tmp_path / "ray"), "--engine", "ray")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and lines == [
        "edge-fer: error: --engine ray needs Ray, an optional extra: pip install 'edge-fer[ray]'"
    ]
    assert not (tmp_path / "ray").exists()


def test_ray_address_where_nothing_listens_is_one_line(ray_module, cli, tmp_path) -> None:
    """A wrong address fails in seconds (Ray itself would retry it for minutes), before any work."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free once closed: nothing listens there
    video = write_video(tmp_path / "clip.mp4", n=3)
    address = f"127.0.0.1:{port}"
    code, _, err = cli("predict", video, "--out", tmp_path / "out", "--engine", "ray", "--ray-address", address)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and f"--ray-address 127.0.0.1:{port}: nothing answers there" in lines[0]
    assert not (tmp_path / "out").exists()


def test_worker_that_would_record_other_settings_is_refused(local_ray, tmp_path) -> None:
    """A node with another model or edge-fer version would write other files: refused before any work."""
    from edge_fer.errors import EdgeFerError
    from edge_fer.ray_engine import RayVideoEngine

    expected = SETTINGS.recorded(recognizer_for(SETTINGS))
    with RayVideoEngine(SETTINGS, tmp_path, workers=1) as engine:
        assert engine.start(1, expected).actors  # the same install: accepted
    other = {**expected, "model_sha256": "0" * 16}
    with RayVideoEngine(SETTINGS, tmp_path, workers=1) as engine, pytest.raises(EdgeFerError) as refused:
        engine.start(1, other)
    assert "would record other settings than this machine (model_sha256)" in str(refused.value)
    assert list(tmp_path.iterdir()) == []
