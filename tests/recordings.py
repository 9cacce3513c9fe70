"""Real browser recordings for tests: headless Chromium's MediaRecorder filming a demo face.

Chromium's fake camera plays a Y4M file (``--use-file-for-fake-video-capture``); a tiny page records it
with ``MediaRecorder`` exactly as the website does and hands the bytes back. What comes out is what a real
applicant's Chrome uploads: WebM (VP8/VP9 + Opus) with no Duration and no Cues.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import numpy as np

PAGE = """<!doctype html><html><body><script>
async function take(stream, seconds, mime) {
  const rec = new MediaRecorder(stream, {mimeType: mime});
  const parts = [];
  rec.ondataavailable = e => { if (e.data.size) parts.push(e.data); };
  const done = new Promise(r => { rec.onstop = r; });
  rec.start(1000);
  await new Promise(r => setTimeout(r, seconds * 1000));
  rec.stop();
  await done;
  const buf = new Uint8Array(await new Blob(parts).arrayBuffer());
  let s = ""; for (let i = 0; i < buf.length; i += 32768) s += String.fromCharCode.apply(null, buf.subarray(i, i + 32768));
  return btoa(s);
}
// several takes at once, each its own MediaRecorder on the one camera stream (as many tabs would be)
async function record(seconds, mime) {
  const stream = await navigator.mediaDevices.getUserMedia({video: true, audio: true});
  const takes = await Promise.all(seconds.map(s => take(stream, s, mime)));
  stream.getTracks().forEach(t => t.stop());
  return takes;
}
</script></body></html>"""


def write_y4m(path: Path, frames: list[np.ndarray], fps: int) -> Path:
    """RGB uint8 frames as a Y4M (YUV 4:2:0) file, what Chromium's fake camera plays."""
    import cv2

    height, width = frames[0].shape[:2]
    with path.open("wb") as fh:
        fh.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            fh.write(b"FRAME\n")
            fh.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def demo_face_y4m(path: Path, seconds: float = 4.0, fps: int = 15, seed: int = 3) -> Path:
    """A Y4M of one demo talking head (the fake camera loops it)."""
    from sales_ability.data.demo_data import _background, _faces, render_clip
    from sales_ability.traits import TRAITS

    rng = np.random.default_rng(seed)
    face = _faces(1, rng)[0]
    frames = render_clip(face, _background(320, 240), dict.fromkeys(TRAITS, 0.5), int(seconds * fps), fps, rng)
    return write_y4m(path, frames, fps)


def chromium_recordings(y4m: Path, seconds: list[float], workdir: Path,
                        mime: str = "video/webm;codecs=vp9,opus") -> list[bytes]:
    """Record the fake camera (playing ``y4m``) once per entry of ``seconds`` in headless Chromium, the takes
    running at the same time (so the longest sets the wait)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    page = workdir / "recorder.html"
    page.write_text(PAGE)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream",
                 "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={y4m}",
                 "--autoplay-policy=no-user-gesture-required", "--allow-file-access-from-files",
                 "--disable-dev-shm-usage", "--no-first-run", f"--user-data-dir={workdir / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    try:
        driver.set_script_timeout(max(seconds) + 60)
        driver.get(page.as_uri())
        takes = driver.execute_async_script("record(arguments[0], arguments[1]).then(arguments[arguments.length - 1])",
                                            list(seconds), mime)
        return [base64.b64decode(t) for t in takes]
    finally:
        driver.quit()
