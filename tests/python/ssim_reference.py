#!/usr/bin/env python3
"""Parity peer for the C++ S_SSIM: computes what the paper's code computes.

The paper's code (VideoComparator in the authors' src/evaluation/video_comparator.py) does:
  frames:  cv2.VideoCapture, read every frame, keep index % max(1, int(fps / 5)) == 0,
           cv2.cvtColor(frame, COLOR_BGR2GRAY); a .png/.jpg/.jpeg/.bmp is one frame via cv2.imread.
  matrix:  np.float32 matrix of skimage structural_similarity(ref_i, gen_j, data_range=255),
           gen_j resized to ref_i's size with cv2.INTER_AREA when the shapes differ.
  S_SSIM:  seqA = matrix.max(axis=1)[:, None], seqB = matrix.max(axis=0)[:, None],
           dist, path = fastdtw(seqA, seqB, dist=scipy.spatial.distance.euclidean)  (radius 1),
           exp(-5 * (dist / max(n, m))).

Usage:
  ssim_reference.py REF GEN                    two videos or stills, decoded with cv2 as above
  ssim_reference.py --frames REF.dump GEN.dump raw gray frame dumps written by the C++ decoder
                                               (mtk frame dump format, see include/mtk/video/frame_dump.hpp)
  ssim_reference.py --batch JOBS.json          many jobs in one process; prints a JSON list
Options: --fps 5 (sampling rate), --no-matrix (omit the matrix from the output).

Batch jobs: {"kind": "videos", "ref": P, "gen": P} | {"kind": "frames", "ref": D, "gen": D}
  | {"kind": "decode_compare", "video": P, "dump": D, "fps": 5}   cv2 gray frames vs a C++ frame dump
  | {"kind": "dtw", "x": [[...], ...], "y": [[...], ...], "radius": 1, "dist": "euclidean"|"abs"|"l1"|"none"}
Output (one job): JSON with n, m, matrix (float32, as the paper), matrix64 (skimage's float64), a, b, distance, path, score, fastdtw_module and timings
(decode_s: cv2 decoding; compute_s / compute_cpu_s: wall / CPU seconds of the SSIM matrix + DTW,
excluding start-up and decoding).
"""
import argparse
import json
import struct
import sys
import time

import numpy as np

try:
    import cv2
    import fastdtw as fastdtw_pkg
    from fastdtw import fastdtw
    from scipy.spatial.distance import euclidean
    from skimage.metrics import structural_similarity as ssim
except ImportError as e:  # the C++ tests turn this into a failure naming the fix
    sys.stderr.write(
        f"missing Python parity peer: {e}; run scripts/setup.sh --test "
        "(pip install -r scripts/requirements-test.txt)\n")
    sys.exit(3)

FASTDTW_MODULE = fastdtw.__module__  # "fastdtw.fastdtw" (pure Python) or "fastdtw._fastdtw" (Cython)


def sample_frames(path, fps=5):
    """Grayscale frames exactly as VideoComparator.sample_frames."""
    if path.lower().endswith(('.png', '.jpg', '.jpeg', '.bmp')):
        frame = cv2.imread(path)
        if frame is None:
            raise ValueError(f"Could not load image file: {path}")
        return [cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)]
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise ValueError(f"Could not open video file: {path}")
    video_fps = cap.get(cv2.CAP_PROP_FPS)
    if video_fps == 0:
        cap.release()
        raise ValueError(f"Invalid video FPS for file: {path}")
    frame_interval = max(1, int(video_fps / fps))
    gray_frames = []
    frame_count = 0
    while cap.isOpened():
        ret, frame = cap.read()
        if not ret:
            break
        if frame_count % frame_interval == 0:
            gray_frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        frame_count += 1
    cap.release()
    if len(gray_frames) == 0:
        raise ValueError(f"No frames extracted from video: {path}")
    return gray_frames


def read_dump(path):
    """Frames from an mtk frame dump (magic MTKFRM01, u32 count, then u32 w, h, c + pixels)."""
    with open(path, 'rb') as f:
        data = f.read()
    if data[:8] != b'MTKFRM01':
        raise ValueError(f"{path} is not an mtk frame dump")
    (count,) = struct.unpack_from('<I', data, 8)
    pos = 12
    frames = []
    for _ in range(count):
        w, h, c = struct.unpack_from('<III', data, pos)
        pos += 12
        n = w * h * c
        arr = np.frombuffer(data, dtype=np.uint8, count=n, offset=pos)
        pos += n
        frames.append(arr.reshape((h, w)) if c == 1 else arr.reshape((h, w, c)))
    return frames


def per_frame_ssim(frames_ref, frames_test, raw=None):
    """VideoComparator.per_frame_ssim (raw, if given, also receives the float64 values)."""
    ssim_matrix = np.zeros((len(frames_ref), len(frames_test)), dtype=np.float32)
    for i, frameA in enumerate(frames_ref):
        for j, frameB in enumerate(frames_test):
            if frameA.shape != frameB.shape:
                frameB = cv2.resize(frameB, (frameA.shape[1], frameA.shape[0]), interpolation=cv2.INTER_AREA)
            score = ssim(frameA, frameB, data_range=255, full=False)
            ssim_matrix[i, j] = score
            if raw is not None:
                raw[i][j] = float(score)
    return ssim_matrix


def dtw_ssim_score(ssim_matrix):
    """VideoComparator.dtw_ssim_score, also returning the pieces."""
    seqA = ssim_matrix.max(axis=1).reshape(-1, 1)
    seqB = ssim_matrix.max(axis=0).reshape(-1, 1)
    dist, path = fastdtw(seqA, seqB, dist=euclidean)
    norm = max(len(seqA), len(seqB))
    score = float(np.exp(-5 * (dist / norm)))
    return seqA[:, 0], seqB[:, 0], float(dist), path, score


def score_frames(ref, gen, with_matrix=True):
    raw = [[0.0] * len(gen) for _ in ref] if with_matrix else None
    c0 = time.process_time()
    t0 = time.perf_counter()
    m = per_frame_ssim(ref, gen, raw)
    t1 = time.perf_counter()
    a, b, dist, path, score = dtw_ssim_score(m)
    t2 = time.perf_counter()
    c2 = time.process_time()
    out = {
        "n": len(ref), "m": len(gen),
        "a": [float(v) for v in a], "b": [float(v) for v in b],
        "distance": dist, "path": [[int(i), int(j)] for i, j in path], "score": score,
        "ssim_s": t1 - t0, "dtw_s": t2 - t1, "compute_s": t2 - t0, "compute_cpu_s": c2 - c0,
        "fastdtw_module": FASTDTW_MODULE,
    }
    if with_matrix:
        out["matrix"] = [[float(v) for v in row] for row in m]  # float32 values, as the paper stores them
        out["matrix64"] = raw  # skimage's float64 results before that rounding
    return out


def job_videos(ref, gen, fps=5, with_matrix=True):
    t0 = time.perf_counter()
    fr = sample_frames(ref, fps)
    fg = sample_frames(gen, fps)
    t1 = time.perf_counter()
    out = score_frames(fr, fg, with_matrix)
    out["decode_s"] = t1 - t0
    return out


def job_frames(ref, gen, with_matrix=True):
    out = score_frames(read_dump(ref), read_dump(gen), with_matrix)
    out["decode_s"] = 0.0
    return out


def job_decode_compare(video, dump, fps=5):
    cv = sample_frames(video, fps)
    ours = read_dump(dump)
    res = {"n_cv2": len(cv), "n_ours": len(ours), "max_abs_diff": None, "mean_abs_diff": None,
           "pixels_differing": None, "pixels": None, "shape_mismatch": False}
    if len(cv) != len(ours):
        return res
    mx, tot, differing, pixels = 0, 0.0, 0, 0
    for a, b in zip(cv, ours):
        if a.shape != b.shape:
            res["shape_mismatch"] = True
            return res
        d = np.abs(a.astype(np.int16) - b.astype(np.int16))
        mx = max(mx, int(d.max()))
        tot += float(d.sum())
        differing += int(np.count_nonzero(d))
        pixels += d.size
    res.update(max_abs_diff=mx, mean_abs_diff=tot / pixels, pixels_differing=differing, pixels=pixels)
    return res


def job_dtw(x, y, radius=1, dist="euclidean"):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if dist == "euclidean":
        fn = euclidean
    elif dist == "abs":
        fn = lambda a, b: abs(a - b)  # noqa: E731
    elif dist == "l1":  # sequential sum, as the C++ abs_cost
        fn = lambda a, b: float(sum(abs(float(u) - float(v)) for u, v in zip(a, b)))  # noqa: E731
    elif dist == "none":
        fn = None
    else:
        raise ValueError(f"unknown dist {dist}")
    d, path = fastdtw(x, y, radius=radius, dist=fn)
    return {"distance": float(d), "path": [[int(i), int(j)] for i, j in path], "fastdtw_module": FASTDTW_MODULE}


def run_job(job, fps, with_matrix):
    kind = job.get("kind")
    try:
        if kind == "videos":
            return job_videos(job["ref"], job["gen"], fps, with_matrix)
        if kind == "frames":
            return job_frames(job["ref"], job["gen"], with_matrix)
        if kind == "decode_compare":
            return job_decode_compare(job["video"], job["dump"], job.get("fps", fps))
        if kind == "dtw":
            return job_dtw(job["x"], job["y"], job.get("radius", 1), job.get("dist", "euclidean"))
        return {"error": f"unknown job kind {kind!r}"}
    except Exception as e:  # reported per job
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--frames", action="store_true", help="REF and GEN are frame dumps")
    ap.add_argument("--batch", help="JSON file with a list of jobs")
    ap.add_argument("--fps", type=float, default=5)
    ap.add_argument("--no-matrix", action="store_true")
    args = ap.parse_args()
    with_matrix = not args.no_matrix
    fps = int(args.fps) if float(args.fps).is_integer() else args.fps
    if args.batch:
        with open(args.batch) as f:
            jobs = json.load(f)
        print(json.dumps([run_job(j, fps, with_matrix) for j in jobs]))
        return 0
    if len(args.paths) != 2:
        ap.error("give REF and GEN (or --batch JOBS.json)")
    job = {"kind": "frames" if args.frames else "videos", "ref": args.paths[0], "gen": args.paths[1]}
    out = run_job(job, fps, with_matrix)
    print(json.dumps(out))
    return 1 if "error" in out else 0


if __name__ == "__main__":
    sys.exit(main())
