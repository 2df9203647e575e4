"""`edge-fer data reframe`: training faces as the runtime cuts them, beside the originals, resumable."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from edge_fer.training.reframe import FACE_PX, FRAME_H, FRAME_W, SUFFIX, set_in_frame


def test_a_face_is_set_enlarged_in_the_middle_of_a_plain_frame() -> None:
    face = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8), (5, 5), 1.5)
    frame = set_in_frame(face)
    assert frame.shape == (FRAME_H, FRAME_W, 3)
    top, left = (FRAME_H - FACE_PX) // 2, (FRAME_W - FACE_PX) // 2
    assert (frame[:top] == 128).all() and (frame[:, :left] == 128).all()
    back = cv2.resize(frame[top : top + FACE_PX, left : left + FACE_PX, 0], (48, 48), interpolation=cv2.INTER_AREA)
    assert np.abs(back.astype(int) - face).mean() < 3


@pytest.mark.shared
def test_reframe_writes_the_runtimes_crops_beside_the_originals_and_resumes(fer_dir, tmp_path, cli) -> None:
    data = tmp_path / "fer"
    for label in ("happy", "sad"):
        (data / "train" / label).mkdir(parents=True)
        for f in sorted((fer_dir / "train" / label).glob("*.jpg"))[:4]:
            shutil.copy(f, data / "train" / label / f.name)
    (data / "val" / "happy").mkdir(parents=True)
    out = tmp_path / "reframed"
    code, stdout, err = cli("data", "reframe", data, out, "--json")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["faces"] == 8 and result["written"] + result["missed"] == 8 and result["written"] >= 6
    for label in ("happy", "sad"):
        originals = sorted((data / "train" / label).glob("*.jpg"))
        for f in originals:
            linked = out / "train" / label / f.name
            assert linked.is_file() and linked.read_bytes() == f.read_bytes()
        crops = sorted((out / "train" / label).glob(f"*{SUFFIX}"))
        assert crops and all(f.name.replace(SUFFIX, ".jpg") in {o.name for o in originals} for f in crops)
        crop = cv2.imread(str(crops[0]), cv2.IMREAD_GRAYSCALE)
        original = cv2.imread(str(data / "train" / label / crops[0].name.replace(SUFFIX, ".jpg")), cv2.IMREAD_GRAYSCALE)
        assert crop.shape == (48, 48) and not np.array_equal(crop, original)  # cut anew, not copied
    assert (out / "val").resolve() == (data / "val").resolve()  # checkpoints still chosen on the real crops
    code, stdout, err = cli("data", "reframe", data, out, "--json")  # again: nothing to redo
    assert code == 0, err
    again = json.loads(stdout)
    assert again["written"] == 0 and again["kept"] == result["written"] and again["missed"] == result["missed"]
    code, _, err = cli("data", "reframe", data, out, "--detector", "full")  # another framing: not mixed in
    assert code == 2 and "a rerun would mix two framings" in err and err.count("\n") == 1


def test_reframe_refuses_a_folder_without_training_faces_or_a_split(tmp_path, cli) -> None:
    code, _, err = cli("data", "reframe", tmp_path, tmp_path / "out")
    assert code == 2 and "no train/<label>/ folders" in err and err.count("\n") == 1
    code, _, err = cli("data", "reframe", tmp_path / "nowhere", tmp_path / "out")
    assert code == 2 and "no such folder" in err
    (tmp_path / "train" / "happy").mkdir(parents=True)  # no val/ or test/: OUT's own split would leak faces
    code, _, err = cli("data", "reframe", tmp_path, tmp_path / "out")
    assert code == 2 and "no val/ or test/ folder" in err and not (tmp_path / "out").exists()
    code, _, err = cli("data", "reframe", tmp_path, tmp_path / "out", "--detector", "none")
    assert code != 0 and "--detector none cuts nothing" in err
