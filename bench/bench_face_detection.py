#!/usr/bin/env python
"""Face detectors on composed scenes: real faces pasted at known boxes into larger non-face photos (some with two or
three faces, some with none, some 4000x3000), scored by precision and recall at IoU 0.5 and timed per photo. The
reference is OpenCV's Haar cascade (what the face step used before); the contenders are detectors whose weights ship
in a pip package: facenet-pytorch's MTCNN (the package's default) and, where it can be imported, MediaPipe's
BlazeFace (`mediapipe==0.10.21`, the last release that ships its face-detection models; it needs numpy<2, so run
this script from a Python that has it).

    python bench/bench_face_detection.py [--scenes 80] [--seed 1] [--fer_dir ../shared/data/fer2013] [--threads 1]

Faces: Eileen Collins' face in scikit-image's public-domain `astronaut()` (a hand-labelled box, hairline to chin and
cheek to cheek, in a head crop and in a head-and-shoulders crop with the suit's collar, mirrored at random), and
FER2013 PrivateTest faces from `--fer_dir` when it exists (48x48 grey, upscaled: soft, cut off at the crop's edges, and
hard for every detector; the whole pasted crop is the face's box, as FER2013's crops are the face). Backgrounds:
scikit-image's sample photos that hold no human face (coffee, rocket, a cat, bricks, gravel...; not the coins, which
hold a frontal face), cropped, resized and noised. Every detector is run through
`emotion_hub.processing.face_detection.find_faces` (MTCNN, Haar: exactly what the package runs, photos over 2048 px
searched shrunk) or the same shrink (MediaPipe). MTCNN's rows are one run filtered at several score thresholds: its
default, 0.9, was picked on `--seed 0`; the README's table is `--seed 1`. `--calibrate` also measures how each
detector's box relates to FER2013's crop (the crop margin of `FACE_MARGINS`). OpenCV's YuNet (`cv2.FaceDetectorYN`)
is not here: no pip package found ships its ONNX weights (the YuNet wrappers on PyPI download them at run time).
"""

import argparse
import glob
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from emotion_hub.processing import face_detection  # noqa: E402


ASTRONAUT_FACE = (174, 64, 276, 176)  # (x0, y0, x1, y1) in skimage.data.astronaut(), hand-labelled
ASTRONAUT_CROPS = {"astronaut head": (130, 20, 320, 210), "astronaut head+shoulders": (40, 0, 420, 380)}
BACKGROUNDS = ("coffee", "rocket", "chelsea", "brick", "gravel", "grass", "hubble_deep_field",
               "immunohistochemistry", "retina", "moon", "clock", "page", "text", "colorwheel", "camera_sky")
SIZES = ((640, 480), (640, 480), (1280, 960), (4000, 3000))
IOU = 0.5


def background_photo(rng, size):
    from skimage import data

    name = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    if name == "camera_sky":  # the sky and lawn of the cameraman photo, without the man
        pixels = data.camera()[:180, 300:]
    else:
        pixels = getattr(data, name)()
    image = Image.fromarray(pixels).convert("RGB")
    w, h = image.size
    side_w, side_h = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
    left, top = rng.integers(0, w - side_w + 1), rng.integers(0, h - side_h + 1)
    image = image.resize(size, Image.BILINEAR, box=(left, top, left + side_w, top + side_h))
    noise = rng.normal(0, 6, (size[1], size[0], 1))
    return Image.fromarray(np.clip(np.asarray(image, float) + noise, 0, 255).astype(np.uint8)), name


def face_sources(fer_dir, count, rng):
    """`[(kind, RGB patch, face box in the patch)]`."""
    from skimage.data import astronaut

    photo = Image.fromarray(astronaut())
    sources = []
    for kind, crop in ASTRONAUT_CROPS.items():
        patch = photo.crop(crop)
        x0, y0, x1, y1 = ASTRONAUT_FACE
        box = (x0 - crop[0], y0 - crop[1], x1 - crop[0], y1 - crop[1])
        sources.append((kind, patch, box))
        mirrored = (patch.width - box[2], box[1], patch.width - box[0], box[3])
        sources.append((kind, patch.transpose(Image.Transpose.FLIP_LEFT_RIGHT), mirrored))
    fer = sorted(glob.glob(os.path.join(fer_dir, "test", "*", "PrivateTest_*.jpg"))) if fer_dir else []
    if fer:
        for path in rng.choice(fer, size=min(count, len(fer)), replace=False):
            sources.append(("FER2013", Image.open(path).convert("RGB"), (0, 0, 48, 48)))
    return sources


def compose(rng, sources, size, n_faces):
    scene, background = background_photo(rng, size)
    width, height = size
    truth, placed = [], []
    astronaut = [s for s in sources if s[0] != "FER2013"]
    fer = [s for s in sources if s[0] == "FER2013"]
    for _ in range(n_faces):
        pool = fer if fer and rng.random() < 0.5 else astronaut  # half the faces FER2013's, when there are any
        kind, patch, box = pool[rng.integers(len(pool))]
        face_side = np.exp(rng.uniform(np.log(0.07), np.log(0.3))) * min(size)  # face side, log-uniform
        scale = face_side / max(box[2] - box[0], box[3] - box[1])
        pw, ph = round(patch.width * scale), round(patch.height * scale)
        if pw >= width or ph >= height:
            continue
        for _ in range(100):  # a free place
            left, top = int(rng.integers(0, width - pw)), int(rng.integers(0, height - ph))
            if all(left + pw <= a or a2 <= left or top + ph <= b or b2 <= top for a, b, a2, b2 in placed):
                break
        else:
            continue
        placed.append((left, top, left + pw, top + ph))
        scene.paste(patch.resize((pw, ph), Image.BICUBIC), (left, top))
        truth.append((kind, (left + box[0] * scale, top + box[1] * scale, left + box[2] * scale, top + box[3] * scale)))
    return scene, truth, background


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def match(found, truth):
    """Greedy matching at IoU >= 0.5, most confident detection first: (true positives, matched truth indices)."""
    order = sorted(range(len(found)), key=lambda i: -(found[i][1] if found[i][1] is not None else 0))
    taken, tp = set(), 0
    for i in order:
        best, best_iou = None, IOU
        for j, (_, box) in enumerate(truth):
            overlap = iou(found[i][0], box)
            if j not in taken and overlap >= best_iou:
                best, best_iou = j, overlap
        if best is not None:
            taken.add(best)
            tp += 1
    return tp, taken


def package_detector(name, **kwargs):
    def run(image):
        return [((f["box"]["xmin"], f["box"]["ymin"], f["box"]["xmax"], f["box"]["ymax"]), f["score"])
                for f in face_detection.find_faces(image, detector=name, **kwargs)]
    return run


def mediapipe_detector(model_selection):
    import mediapipe as mp

    detector = mp.solutions.face_detection.FaceDetection(model_selection=model_selection, min_detection_confidence=0.5)

    def run(image):
        width, height = image.size
        scale = min(1.0, face_detection.MAX_DETECT_SIDE / max(width, height))  # the package's shrink, for fairness
        search = image if scale == 1 else image.resize((round(width * scale), round(height * scale)), Image.BILINEAR)
        result = detector.process(np.asarray(search.convert("RGB")))
        found = []
        for detection in result.detections or []:
            r = detection.location_data.relative_bounding_box
            found.append(((r.xmin * width, r.ymin * height, (r.xmin + r.width) * width, (r.ymin + r.height) * height),
                          float(detection.score[0])))
        return found
    return run


def calibrate(fer_dir, count, rng, detectors):
    """Each detector's box against FER2013's crop (the face upscaled to 144 px on a grey canvas): median box side /
    crop side. `FACE_MARGINS` = (1 / that - 1) / 2 for the larger side, floored at 0."""
    paths = sorted(glob.glob(os.path.join(fer_dir, "train", "*", "*.jpg")))
    paths = rng.choice(paths, size=min(count, len(paths)), replace=False)
    print(f"\nFER2013 crop calibration ({len(paths)} training faces at 144 px on a 432x432 grey canvas):")
    for name, run in detectors.items():
        sides, centres, missed = [], [], 0
        for path in paths:
            canvas = Image.new("RGB", (432, 432), (128, 128, 128))
            canvas.paste(Image.open(path).convert("RGB").resize((144, 144), Image.BICUBIC), (144, 144))
            found = [(box, iou(box, (144, 144, 288, 288))) for box, _ in run(canvas)]
            found = [f for f in found if f[1] >= IOU]
            if not found:
                missed += 1
                continue
            box = max(found, key=lambda f: f[1])[0]
            sides.append((box[2] - box[0], box[3] - box[1]))
            centres.append(((box[0] + box[2]) / 2 - 216, (box[1] + box[3]) / 2 - 216))
        if not sides:
            print(f"  {name}: no face found")
            continue
        w, h = np.median(np.array(sides) / 144, axis=0)
        cx, cy = np.median(np.array(centres) / 144, axis=0)
        margin = max(0.0, (1 / max(w, h) - 1) / 2)
        print(f"  {name}: found {len(sides)}/{len(paths)}; box width {w:.2f} x height {h:.2f} of the crop, centre "
              f"offset ({cx:+.3f}, {cy:+.3f}) crop sides; margin per side for the crop: {margin:.2f}")


def save_scene(folder, filename, scene, truth, found):
    from PIL import ImageDraw

    os.makedirs(folder, exist_ok=True)
    drawn = scene.copy()
    draw = ImageDraw.Draw(drawn)
    width = max(2, scene.width // 300)
    for _, box in truth:
        draw.rectangle(box, outline="lime", width=width)
    for box, _ in found:
        draw.rectangle(box, outline="red", width=width)
    drawn.thumbnail((800, 800))
    drawn.save(os.path.join(folder, filename))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=80)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fer_dir", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                           "..", "shared", "data", "fer2013"))
    parser.add_argument("--fer_faces", type=int, default=200, help="FER2013 faces drawn for the scenes")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calibrate", action="store_true", help="also measure the crop margins (FER2013 train)")
    parser.add_argument("--mtcnn_min_scores", type=float, nargs="+", default=[0.7, 0.9],
                        help="a row per MTCNN score threshold (0.9 is the package's default)")
    parser.add_argument("--save_scenes", help="write the scenes with the boxes drawn (truth lime, found red) here")
    return parser.parse_args()


def print_table(rows, kinds):
    """The Markdown table of `rows` (one per detector and threshold), times relative to the first row's."""
    def number(value, digits):  # a number that cannot be computed (no detection at all) is left out
        return "-" if value != value else f"{value:.{digits}f}"

    if any(p != p for _, p, *_ in rows):
        print("warning: precision left out ('-') for a detector that found nothing")
    reference = rows[0]
    print(f"\n| detector | precision | recall | TP / FP / FN | FP on no-face scenes | ms per photo (all) | "
          f"ms, up to 1280x960 | ms, 4000x3000 | " + " | ".join(f"recall, {k}" for k in kinds) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(kinds))
    for name, p, r, tp, fp, fn, empty_fp, ms, ms_small, ms_large, per_kind in rows:
        print(f"| {name} | {number(p, 3)} | {r:.3f} | {tp} / {fp} / {fn} | {empty_fp} | {ms:.0f} "
              f"({ms / reference[7]:.2f}x) | {ms_small:.0f} | {number(ms_large, 0)} | "
              + " | ".join(number(per_kind.get(k, float("nan")), 2) for k in kinds) + " |")


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    rng = np.random.default_rng(args.seed)
    fer_dir = args.fer_dir if os.path.isdir(args.fer_dir) else None
    if fer_dir is None:
        print(f"{args.fer_dir} not found: astronaut faces only")
    sources = face_sources(fer_dir, args.fer_faces, rng)

    # name: (run, [(row label, score threshold applied to its detections)]): one run per detector, a row per threshold.
    detectors = {"haar": (package_detector("haar"), [("Haar cascade (OpenCV; the reference)", None)]),
                 "mtcnn": (package_detector("mtcnn", min_score=0.7),  # 0.7: MTCNN's own O-Net threshold
                           [(f"MTCNN (facenet-pytorch), score >= {t}" + (" (default)" if t == 0.9 else ""), t)
                            for t in args.mtcnn_min_scores])}
    try:
        import mediapipe  # noqa: F401

        detectors["mediapipe full"] = (mediapipe_detector(1), [("MediaPipe BlazeFace full-range", None)])
        detectors["mediapipe short"] = (mediapipe_detector(0), [("MediaPipe BlazeFace short-range", None)])
    except ImportError as err:
        print(f"MediaPipe left out: {err}")

    scenes = []
    for i in range(args.scenes):
        size = SIZES[i % len(SIZES)]
        n_faces = int(rng.choice([0, 1, 1, 2, 2, 3]))
        scenes.append(compose(rng, sources, size, n_faces))
    n_truth = sum(len(t) for _, t, _ in scenes)
    kinds = sorted({k for _, t, _ in scenes for k, _ in t})
    print(f"{len(scenes)} scenes (seed {args.seed}): {sum(not t for _, t, _ in scenes)} with no face, "
          f"{sum(s.size == (4000, 3000) for s, _, _ in scenes)} of 4000x3000; {n_truth} faces: "
          + ", ".join(f"{sum(k == kind for _, t, _ in scenes for k, _ in t)} {kind}" for kind in kinds))

    runs = {}  # detector: [(found, seconds)] per scene
    for key, (run, _) in detectors.items():
        run(scenes[0][0])  # warm up (imports, weights)
        runs[key] = []
        for scene, _, _ in scenes:
            started = time.perf_counter()
            found = run(scene)
            runs[key].append((found, time.perf_counter() - started))

    rows = []
    for key, (_, variants) in detectors.items():
        seconds = [t for (_, t), (scene, _, _) in zip(runs[key], scenes) if scene.size != (4000, 3000)]
        large_seconds = [t for (_, t), (scene, _, _) in zip(runs[key], scenes) if scene.size == (4000, 3000)]
        for label, threshold in variants:
            tp = fp = false_on_empty = 0
            per_kind = {kind: [0, 0] for kind in kinds}
            for index, ((found, _), (scene, truth, _)) in enumerate(zip(runs[key], scenes)):
                found = [f for f in found if threshold is None or f[1] >= threshold]
                hits, taken = match(found, truth)
                tp, fp = tp + hits, fp + len(found) - hits
                false_on_empty += 0 if truth else len(found)
                for j, (kind, _) in enumerate(truth):
                    per_kind[kind][0] += j in taken
                    per_kind[kind][1] += 1
                if args.save_scenes and (threshold is None or threshold == 0.9):
                    save_scene(args.save_scenes, f"scene{index:03d}-{key.replace(' ', '_')}.png", scene, truth, found)
            precision = tp / (tp + fp) if tp + fp else float("nan")
            rows.append((label, precision, tp / n_truth, tp, fp, n_truth - tp, false_on_empty,
                         1000 * np.mean(seconds + large_seconds), 1000 * np.mean(seconds),
                         1000 * np.mean(large_seconds) if large_seconds else float("nan"),
                         {k: v[0] / v[1] for k, v in per_kind.items() if v[1]}))

    print_table(rows, kinds)
    if args.calibrate and fer_dir:
        calibrate(fer_dir, 200, np.random.default_rng(args.seed), {"Haar": package_detector("haar"),
                                                                    "MTCNN": package_detector("mtcnn")})


if __name__ == "__main__":
    main()
