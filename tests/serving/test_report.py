"""The candidate report: face strips the model saw, the face-found share, one self-contained file."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from sales_ability.data.face_tensors import ClipFeatures, FaceTensorWriter
from sales_ability.knowledge.rate import paper_knowledge_base
from sales_ability.serving.run_report import render_report
from sales_ability.serving.scoring import STRIP_FRAMES, face_strips
from sales_ability.traits import TRAITS


def _faces(folder: Path, found: np.ndarray) -> Path:
    """One clip of 10 frames whose frame i is filled with the grey level 20*i."""
    n = len(found)
    frames = np.stack([np.full((8, 8, 3), 20 * i, np.uint8) for i in range(n)])
    writer = FaceTensorWriter(folder, shard_size=4, n_frames=n, size=8)
    writer.add(ClipFeatures({"clip_id": "cand", "source": "cand.mp4"}, frames, np.arange(n), found,
                            np.zeros((n, 4), np.float32), 25.0, 320, 240, n, "synthetic"))
    writer.flush()
    return folder


def test_strip_holds_evenly_spaced_crops_and_the_face_share(tmp_path: Path) -> None:
    found = np.array([True] * 7 + [False] * 3)
    strips = face_strips(_faces(tmp_path / "faces", found))
    assert strips["clip_id"].tolist() == ["cand"]
    assert strips["face_share"].iloc[0] == 0.7
    image = np.asarray(Image.open(io.BytesIO(strips["strip_png"].iloc[0])))
    assert image.shape == (8, 8 * STRIP_FRAMES, 3)
    greys = [int(image[0, 8 * k, 0]) for k in range(STRIP_FRAMES)]
    assert greys == [0, 40, 80, 100, 140, 180]  # frames 0, 2, 4, 5, 7, 9 of 10


def _rows(share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One applicant with one segment."""
    scores = {**{t: 0.5 for t in TRAITS}, **{f"score_{t}": 5 for t in TRAITS}, **{f"score_{t}_{e}": 5 for t in TRAITS for e in ("low", "high")},
              "sales_score": 5.0, "sales_score_low": 4.2, "sales_score_high": 5.8, "face_share": share}
    segment = {"clip_id": "cand_c0", "applicant_id": "cand", "source": "in/cand.mp4", "content_sha256": "abc",
               "start_s": 0.0, "end_s": 15.0, **scores}
    return pd.DataFrame([{"applicant_id": "cand", "answers": 1, "segments": 1, **scores}]), pd.DataFrame([segment])


def test_report_embeds_the_strip_shows_the_interval_and_flags_a_low_face_share(tmp_path: Path) -> None:
    png = face_strips(_faces(tmp_path / "faces", np.ones(10, bool)))["strip_png"].iloc[0]
    rejects = pd.DataFrame(columns=["source", "reason", "clip_id"])
    html = render_report(*_rows(0.55), rejects, paper_knowledge_base(), "m", {"cand_c0": png})
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert [base64.b64decode(e) for e in embedded] == [png]
    assert re.search(r'class="low">face found in 55% of frames', html)
    assert "5.0 (4.2-5.8)" in html and "1 applicants scored (1 segments of 1 answers)" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from elsewhere

    fine = render_report(*_rows(1.0), rejects, paper_knowledge_base(), "m", {})
    assert "no crops stored" in fine and 'class="muted">face found in 100% of frames' in fine
