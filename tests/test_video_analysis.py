"""Recordings in, tables out: media times, cut and damaged files, the CSV, summaries, the timeline plot,
resumable archives (``edge-fer predict VIDEO --out DIR``) and the ``analyze_video`` API.

Runs on the shipped model (it is in the repository); the shared cases and media are used where present.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED
from runtime_models import FixedDetector, write_video

from edge_fer import EmotionRecognizer
from edge_fer.analysis import AnalysisSettings, analyze_video_to, output_paths
from edge_fer.archive import ArchiveInterrupted, collect_media, plan_videos, run_videos
from edge_fer.drawing import COLORS
from edge_fer.labels import LABELS
from edge_fer.sources import VideoSource
from edge_fer.timeline import FOOTER_H, HEADER_H, PANEL_H, WIDTH
from edge_fer.video_writer import TimedWriter

CASES = SHARED / "cases"
BASE = ["source", "frame", "time_s", "track_id", "x", "y", "w", "h", "det_score", "label", "score"]


@pytest.fixture
def cases_dir() -> Path:
    if not (CASES / "vfr-40frames.mp4").is_file():
        pytest.skip(f"shared cases not found at {CASES} (set EDGE_FER_SHARED)")
    return CASES


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _two_face_recognizer() -> EmotionRecognizer:
    """The shipped model with a stand-in detector: two fixed faces in every frame (two tracks)."""
    return EmotionRecognizer(detector=FixedDetector([(10, 10, 60, 60), (90, 20, 60, 60)]), min_face=0, threads=1)


def _damaged_avi(path: Path, n: int = 20, bad: int = 10) -> Path:
    """An MJPEG AVI of ``n`` numbered frames whose frame ``bad`` has its JPEG data zeroed (undecodable)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (160, 120))
    for i in range(n):
        img = np.full((120, 160, 3), 8 * i, np.uint8)
        cv2.putText(img, str(i), (40, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
        writer.write(img)
    writer.release()
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    assert len(starts) == n
    data[starts[bad] : starts[bad] + 400] = bytes(400)
    path.write_bytes(bytes(data))
    return path


# ---------------------------------------------------------------- media time, cut and damaged files


@pytest.mark.shared
def test_variable_frame_rate_times_come_from_the_container(cases_dir) -> None:
    with VideoSource(cases_dir / "vfr-40frames.mp4") as video:
        times = [f.time_s for f in video.frames()]
    assert len(times) == 40
    assert times[20] == pytest.approx(2.0, abs=1e-6) and times[39] == pytest.approx(2.475, abs=1e-6)
    assert np.diff(times[:20]) == pytest.approx([0.1] * 19) and np.diff(times[20:]) == pytest.approx([0.025] * 19)
    assert video.reached_end() and video.frames_skipped == 0


@pytest.mark.shared
def test_predict_on_the_vfr_case_writes_real_times(cli, cases_dir, tmp_path) -> None:
    code, _, err = cli("predict", cases_dir / "vfr-40frames.mp4", "--out", tmp_path, "--threads", "1")
    assert code == 0, err
    rows = _csv(tmp_path / "vfr-40frames.csv")
    by_frame = {int(r["frame"]): float(r["time_s"]) for r in rows}
    assert sorted(by_frame) == list(range(40))
    assert by_frame[20] == 2.0 and by_frame[39] == 2.475
    summary = json.loads((tmp_path / "vfr-40frames.summary.json").read_text())
    assert summary["complete"] is True and summary["frames_read"] == summary["frames_promised"] == 40
    assert summary["duration_s"] == pytest.approx(2.5)


@pytest.mark.shared
def test_truncated_file_is_processed_to_its_last_frame_and_said_so(cli, cases_dir, tmp_path) -> None:
    code, _, err = cli("predict", cases_dir / "truncated-half.avi", "--out", tmp_path, "--threads", "1")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "ended early" in line]
    assert len(warnings) == 1 and "31 of 60 frames read" in warnings[0] and "Traceback" not in err
    summary = json.loads((tmp_path / "truncated-half.summary.json").read_text())
    assert (summary["frames_read"], summary["frames_promised"], summary["complete"]) == (31, 60, False)
    assert summary["stop_reason"] == "ended early" and summary["duration_promised_s"] == pytest.approx(2.4)
    assert [int(r["frame"]) for r in _csv(tmp_path / "truncated-half.csv")] == list(range(31))
    # The plot spans the promised 2.4 s and hatches the unreadable second half.
    from edge_fer.timeline import UNREAD

    plot = cv2.imread(str(tmp_path / "truncated-half.timeline.png"))[HEADER_H + 30 : HEADER_H + PANEL_H - 30]
    half = plot.shape[1] // 2
    assert _has_colour(plot[:, half + 80 :], UNREAD, tol=4) > 5000 and _has_colour(plot[:, :half], UNREAD, tol=4) == 0


def test_damaged_frame_in_the_middle_is_skipped_and_counted(tmp_path) -> None:
    video = _damaged_avi(tmp_path / "damaged.avi")
    analysis = _two_face_recognizer().analyze_video(video)
    s = analysis.summary
    assert (s.frames_read, s.frames_promised, s.frames_skipped, s.complete) == (19, 20, 1, True)
    times = sorted({r.time_s for r in analysis.rows})
    assert 0.4 not in [round(t, 3) for t in times]  # frame 10 (0.40 s) is the one missing
    assert round(times[-1], 3) == 0.76 and "1 damaged frame skipped" in s.warning()


# ---------------------------------------------------------------- the table and the summary


def test_every_frame_has_a_row_and_faceless_frames_have_empty_fields(tmp_path) -> None:
    video = write_video(tmp_path / "flat.mp4", n=5)
    rec = EmotionRecognizer(detector=FixedDetector(np.zeros((0, 4))), threads=1)
    analysis = rec.analyze_video(video)
    assert [r.frame for r in analysis.rows] == [0, 1, 2, 3, 4]
    assert [round(r.time_s, 3) for r in analysis.rows] == [0.0, 0.05, 0.1, 0.15, 0.2]
    path = analysis.to_csv(tmp_path / "t.csv")
    rows = _csv(path)
    assert list(rows[0]) == BASE + list(LABELS)
    assert all(r[c] == "" for r in rows for c in BASE[3:] + list(LABELS))
    assert analysis.summary.tracks == [] and analysis.summary.faces == 0


def test_predict_json_prints_each_videos_summary_and_writes_nothing(cli, tmp_path, monkeypatch) -> None:
    video = write_video(tmp_path / "flat.mp4", n=4)
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("predict", video, "--json", "--threads", "1")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert (summary["source"], summary["frames_read"], summary["complete"]) == (str(video), 4, True)
    assert summary["outputs"] == {} and sorted(p.name for p in tmp_path.iterdir()) == ["flat.mp4"]
    assert err.strip() == ""  # no progress and no summary line with --json (nor on a non-terminal)


def test_two_faces_give_two_tracks_with_summaries(tmp_path) -> None:
    video = write_video(tmp_path / "two.mp4", n=8, size=(160, 120))
    analysis = _two_face_recognizer().analyze_video(video)
    assert len(analysis.rows) == 16 and {r.track_id for r in analysis.rows} == {1, 2}
    tracks = analysis.summary.tracks
    assert [t.track_id for t in tracks] == [1, 2] and all(t.frames == 8 for t in tracks)
    for t in tracks:
        assert t.first_s == 0.0 and t.last_s == pytest.approx(0.35)
        assert sum(t.mean_probs.values()) == pytest.approx(1.0, abs=0.01)
        assert sum(t.top_share.values()) == pytest.approx(1.0, abs=1e-3)
        assert t.dominant == max(t.top_share, key=lambda k: (t.top_share[k], t.mean_probs[k]))
        mine = [r for r in analysis.rows if r.track_id == t.track_id]
        assert t.mean_probs == {
            lab: pytest.approx(np.mean([r.probs[i] for r in mine]), abs=1e-4) for i, lab in enumerate(LABELS)
        }
    df = pytest.importorskip("pandas")
    frame = analysis.to_pandas()
    assert isinstance(frame, df.DataFrame) and list(frame.columns) == BASE + list(LABELS) and len(frame) == 16


def test_to_pandas_without_pandas_says_how_to_get_it(tmp_path, monkeypatch) -> None:
    import sys

    from edge_fer.errors import EdgeFerError

    analysis = _two_face_recognizer().analyze_video(write_video(tmp_path / "v.mp4", n=2))
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(EdgeFerError, match="pip install pandas"):
        analysis.to_pandas()


def test_outputs_are_deterministic(tmp_path) -> None:
    """What a remote worker writes for a video is byte for byte what a local run writes."""
    video = write_video(tmp_path / "in.mp4", n=6)
    settings = AnalysisSettings(threads=1)
    rec = _two_face_recognizer()
    for name in ("a", "b"):
        analyze_video_to(video, tmp_path / name, settings, recognizer=rec)
    for kind in ("csv", "timeline", "summary"):
        a, b = output_paths(tmp_path / "a", "in")[kind], output_paths(tmp_path / "b", "in")[kind]
        assert a.read_bytes() == b.read_bytes(), kind
    summary = json.loads(output_paths(tmp_path / "a", "in")["summary"].read_text())
    assert summary["outputs"] == {"csv": "in.csv", "timeline": "in.timeline.png"}
    assert summary["settings"]["model"] == "edgefer-s_int8.tflite" and len(summary["settings"]["model_sha256"]) == 16
    assert "threads" not in json.dumps(summary["settings"]) and str(tmp_path) not in json.dumps(summary["settings"])


# ---------------------------------------------------------------- the timeline plot


def _has_colour(region: np.ndarray, bgr: tuple[int, int, int], tol: int = 30) -> int:
    return int((np.abs(region.astype(int) - bgr).max(axis=2) <= tol).sum())


def test_timeline_has_a_panel_per_track_in_the_overlay_colours(tmp_path) -> None:
    video = write_video(tmp_path / "two.mp4", n=10)
    settings = AnalysisSettings(threads=1)
    analyze_video_to(video, tmp_path / "out", settings, recognizer=_two_face_recognizer())
    img = cv2.imread(str(tmp_path / "out" / "two.timeline.png"))
    assert img.shape == (HEADER_H + 2 * PANEL_H + FOOTER_H, WIDTH, 3)
    for panel in range(2):
        plot = img[HEADER_H + panel * PANEL_H + 30 : HEADER_H + (panel + 1) * PANEL_H - 30, 70:-30]
        # Every label's line is drawn in its overlay colour (flat frames: probabilities are steady lines).
        drawn = [lab for lab in LABELS if _has_colour(plot, COLORS[lab], tol=12) > 50]
        assert len(drawn) >= 4, drawn


def test_faceless_timeline_is_one_empty_panel(tmp_path) -> None:
    video = write_video(tmp_path / "flat.mp4", n=3)
    rec = EmotionRecognizer(detector=FixedDetector(np.zeros((0, 4))), threads=1)
    analyze_video_to(video, tmp_path / "out", AnalysisSettings(threads=1), recognizer=rec)
    img = cv2.imread(str(tmp_path / "out" / "flat.timeline.png"))
    assert img.shape == (HEADER_H + PANEL_H + FOOTER_H, WIDTH, 3)
    plot = img[HEADER_H + 30 : HEADER_H + PANEL_H - 30, 70:-30]
    assert not any(_has_colour(plot, COLORS[lab], tol=12) > 20 for lab in ("angry", "happy", "sad", "surprise"))


@pytest.mark.shared
def test_predict_on_the_shared_video_writes_the_three_files(cli, media_dir, tmp_path) -> None:
    code, out, err = cli("predict", media_dir / "woman-with-phone.mp4", "--out", tmp_path, "--threads", "1")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "woman-with-phone.csv",
        "woman-with-phone.summary.json",
        "woman-with-phone.timeline.png",
    ]
    rows = _csv(tmp_path / "woman-with-phone.csv")
    assert sorted({int(r["frame"]) for r in rows}) == list(range(115))
    assert float(rows[-1]["time_s"]) == pytest.approx(4.56)  # 25 fps timestamps, not 114 / 24.7
    with_face = [r for r in rows if r["label"]]
    assert len(with_face) >= 0.9 * 115
    for r in with_face:
        probs = [float(r[lab]) for lab in LABELS]
        assert sum(probs) == pytest.approx(1.0, abs=0.01) and float(r["score"]) == max(probs)
    summary = json.loads((tmp_path / "woman-with-phone.summary.json").read_text())
    main = max(summary["tracks"], key=lambda t: t["frames"])
    assert main["frames"] >= 100 and main["dominant"] in ("happy", "sad")
    img = cv2.imread(str(tmp_path / "woman-with-phone.timeline.png"))
    assert img.shape[1] == WIDTH and img.shape[0] == HEADER_H + len(summary["tracks"]) * PANEL_H + FOOTER_H
    panel = img[HEADER_H + 30 : HEADER_H + PANEL_H - 30, 70:-30]
    assert _has_colour(panel, COLORS["happy"], tol=12) > 300 and _has_colour(panel, COLORS["sad"], tol=12) > 300
    assert "115 of 115 frames" in out


# ---------------------------------------------------------------- the annotated video's timing


def test_timed_writer_keeps_constant_rate_frames_and_variable_rate_timing(tmp_path) -> None:
    frame = np.zeros((32, 32, 3), np.uint8)
    cfr = TimedWriter(tmp_path / "cfr.avi", 25.0)
    for i in range(50):
        cfr.write(frame, i * 0.04)
    cfr.close()
    assert (cfr.written, cfr.repeated, cfr.dropped) == (50, 0, 0)
    vfr = TimedWriter(tmp_path / "vfr.avi", 20.0)
    times = [0.1 * i for i in range(10)] + [1.0 + 0.0125 * i for i in range(8)]
    for t in times:
        vfr.write(frame, t)
    vfr.close()
    # 0.1 s frames are shown twice at 20 fps; 80 Hz frames are thinned so the video stays on the source's clock.
    assert vfr.repeated == 10 and vfr.dropped > 0
    assert abs((vfr.written - 1) / 20.0 - times[-1]) <= 1.5 / 20.0 + 1e-9  # the last frame, on the clock
    assert int(cv2.VideoCapture(str(tmp_path / "vfr.avi")).get(cv2.CAP_PROP_FRAME_COUNT)) == vfr.written


# ---------------------------------------------------------------- folders, resuming, interruptions


def _folder(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    (src / "day2").mkdir(parents=True)
    write_video(src / "a.mp4", n=4)
    write_video(src / "day2" / "b.mp4", n=3)
    cv2.imwrite(str(src / "still.png"), np.full((60, 80, 3), 128, np.uint8))
    (src / "notes.txt").write_text("not media")
    return src


def test_folder_collection_mixes_images_and_videos(tmp_path) -> None:
    src = _folder(tmp_path)
    flat = collect_media([src])
    assert [(i.path.name, i.kind, i.name) for i in flat] == [("a.mp4", "video", "a"), ("still.png", "image", "still")]
    deep = collect_media([src], recursive=True, exclude=src / "day2")
    assert [i.name for i in deep] == ["a", "still"]
    assert [i.name for i in collect_media([src], recursive=True)] == ["a", "day2/b", "still"]


def test_rerun_skips_finished_videos_and_force_redoes_them(cli, tmp_path) -> None:
    src, out = _folder(tmp_path), tmp_path / "out"
    args = ["predict", src, "--recursive", "--out", out, "--threads", "1"]
    code, _, err = cli(*args)
    assert code == 0, err
    assert "2 videos analysed" in err
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "a.csv", "a.summary.json", "a.timeline.png",
        "day2/b.csv", "day2/b.summary.json", "day2/b.timeline.png",
        "predictions.csv",
    ]  # fmt: skip
    assert _csv(out / "predictions.csv") == [
        dict.fromkeys(["source", "face", "x", "y", "w", "h", "det_score", "label", "score", *LABELS], "")
        | {"source": str(src / "still.png")}
    ]
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.csv") if p.name != "predictions.csv"}
    code, _, err = cli(*args)
    assert code == 0 and "2 finished already (skipped)" in err and "0 videos analysed" in err
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    # Other settings: refused before any work, one line naming the file and --force.
    table = (out / "predictions.csv").stat().st_mtime_ns
    code, _, err = cli(*args, "--smoothing", "3")
    # (The folder's notes.txt is named as skipped, on its own warning line.)
    lines = [line for line in err.splitlines() if line.strip() and "skipped" not in line]
    assert code == 2 and len(lines) == 1 and "other settings" in lines[0] and "--force" in lines[0]
    assert (out / "predictions.csv").stat().st_mtime_ns == table  # refused before the images were redone
    code, _, err = cli(*args, "--smoothing", "3", "--force")
    assert code == 0 and "2 videos analysed" in err
    assert json.loads((out / "a.summary.json").read_text())["settings"]["smoothing"] == 3


def test_unreadable_video_in_a_folder_is_skipped_a_named_one_is_an_error(cli, tmp_path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    write_video(src / "a.mp4", n=3)
    (src / "broken.mp4").write_text("not a video")
    code, printed, err = cli("predict", src, "--out", out, "--threads", "1")
    assert code == 0, err
    listed = [name for name in ("a.csv", "a.timeline.png", "a.summary.json") if str(out / name) in printed + err]
    assert listed == ["a.csv", "a.timeline.png", "a.summary.json"]  # every file written is named
    warnings = [line for line in err.splitlines() if "broken.mp4" in line]
    assert len(warnings) == 1 and "skipped" in warnings[0] and "ffmpeg" in warnings[0]
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "a.summary.json", "a.timeline.png"]
    code, _, err = cli("predict", src / "broken.mp4", "--threads", "1")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("edge-fer: error: video") and "broken.mp4" in lines[0]


def test_interrupted_archive_keeps_finished_videos_and_leaves_no_partial_file(tmp_path) -> None:
    src, out = _folder(tmp_path), tmp_path / "out"
    items = [i for i in collect_media([src], recursive=True) if i.kind == "video"]
    detector = FixedDetector([(10, 10, 60, 60)])
    calls = {"n": 0}

    def interrupt_on_the_sixth_frame(bgr: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 6:  # the second video's second frame
            raise KeyboardInterrupt
        return detector(bgr)

    rec = EmotionRecognizer(detector=interrupt_on_the_sixth_frame, min_face=0, threads=1)
    settings = AnalysisSettings(threads=1, annotate=True)
    plan = plan_videos(items, out, settings, rec, force=False)
    with pytest.raises(ArchiveInterrupted, match="rerun the same command"):
        list(run_videos(plan, out, settings, rec))
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["a.annotated.mp4", "a.csv", "a.summary.json", "a.timeline.png"]
    # A rerun redoes only what is missing.
    rec = EmotionRecognizer(detector=lambda bgr: detector(bgr), min_face=0, threads=1)
    assert [todo for _, todo in plan_videos(items, out, settings, rec, force=False)] == [False, True]


def test_predict_on_a_video_runs_without_tensorflow(tmp_path) -> None:
    """The table, summary and timeline come from the runtime alone: TensorFlow, Keras and matplotlib blocked."""
    import subprocess
    import sys
    import textwrap

    video = write_video(tmp_path / "clip.mp4", n=3)
    script = textwrap.dedent(
        """
        import importlib.abc, sys

        class _Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "matplotlib"):
                    raise ImportError(f"blocked: {name}")
                return None

        sys.meta_path.insert(0, _Block())
        from edge_fer.cli import main

        sys.argv = ["edge-fer", "predict", sys.argv[1], "--out", sys.argv[2], "--threads", "1"]
        try:
            main()
        except SystemExit as exc:
            assert not exc.code, exc.code
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(video), str(tmp_path / "out")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["clip.csv", "clip.summary.json", "clip.timeline.png"]


def test_long_recordings_plot_as_lines_on_a_clock_axis() -> None:
    """Ten minutes at 25 fps (15,000 noisy frames on ~1,100 pixels) are averaged per pixel column, so the plot
    shows lines, not bands of noise; ticks are whole minutes."""
    from edge_fer.analysis import Row, VideoAnalysis, VideoSummary, summarize_tracks
    from edge_fer.timeline import nice_step, render_timeline, tick_label

    assert nice_step(600) == 60 and tick_label(540, 600) == "9:00" and tick_label(2.5, 4.6) == "2.5"
    assert tick_label(3725, 7200) == "1:02:05" and nice_step(4.6) == 0.5
    rng = np.random.default_rng(0)
    rows = []
    for i in range(15000):
        logits = np.sin(i / 750 + np.arange(7)) * 2 + rng.normal(0, 0.5, 7)
        p = np.exp(logits) / np.exp(logits).sum()
        rows.append(Row("long.mp4", i, i / 25, 1, 0, 0, 50, 50, 0.9, LABELS[p.argmax()], p.max(), tuple(p)))
    summary = VideoSummary("long.mp4", frames_read=15000, duration_s=600.0, tracks=summarize_tracks(rows, LABELS))
    img = render_timeline(VideoAnalysis(list(LABELS), rows, summary))
    plot = img[HEADER_H + 30 : HEADER_H + PANEL_H - 30, 70:-30]
    inked = sum(_has_colour(plot, COLORS[lab], tol=12) for lab in LABELS) / (plot.shape[0] * plot.shape[1])
    # Measured: 0.23 averaged per column, 0.12 for the same curves without noise, 0.69 drawing every frame.
    assert 0.05 < inked < 0.35, inked


def test_sigterm_during_an_archive_exits_130_and_leaves_no_partial_file(tmp_path) -> None:
    """A real process stopped (SIGTERM, as Ctrl-C) in its second video: exit 130 and one line; the first
    video's files are whole, the second left nothing; a rerun finishes only the second."""
    import signal
    import subprocess
    import sys
    import time

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    write_video(src / "a.mp4", n=3)
    write_video(src / "b.mp4", n=1000)  # seconds of work: long enough to be stopped in
    cmd = [sys.executable, "-m", "edge_fer", "predict", str(src), "--out", str(out), "--threads", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "a.summary.json").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 130, err
    assert len(lines) == 1 and lines[0].startswith("edge-fer: error: interrupted in") and "rerun" in lines[0]
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "a.summary.json", "a.timeline.png"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "1 video analysed; 1 finished already (skipped)" in done.stderr
