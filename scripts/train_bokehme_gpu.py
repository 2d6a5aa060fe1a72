"""One-shot GPU training of the shipped BokehMe weights: trace a cache in memory, train, benchmark.

    PYTHONPATH=. NUMBA_NUM_THREADS=1 python3 scripts/train_bokehme_gpu.py OUT_DIR TRACE_S ARNET_S IUNET_S

Writes OUT_DIR/bokehme-lensblur-synth.safetensors and OUT_DIR/train_report.json. (How the shipped weights
were made; see lensblur/models/weights/MODEL_CARD.md.)
"""

import json
import os
import sys
import time

import torch

from lensblur.synth.dataset import DatasetConfig
from lensblur.training.bokehme import BokehMeRecipe, build_cache, train


def main() -> None:
    out, trace_s, arnet_s, iunet_s = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    os.makedirs(out, exist_ok=True)
    config = DatasetConfig(split="train", size=256, strengths_px=(12.0, 24.0), focus_per_scene=2)
    start = time.time()
    cache = build_cache(None, config, scenes=5000, workers=os.cpu_count(), seconds=trace_s)
    trace_seconds = time.time() - start
    recipe = BokehMeRecipe(batch=16, arnet_steps=10**6, iunet_steps=10**6, arnet_seconds=arnet_s,
                           iunet_seconds=iunet_s)
    _, report = train(cache, os.path.join(out, "bokehme-lensblur-synth.safetensors"), recipe, device="cuda")
    report["trace_seconds"] = round(trace_seconds, 1)
    report["cpu_count"] = os.cpu_count()
    report["torch"] = torch.__version__
    with open(os.path.join(out, "train_report.json"), "w") as f:
        json.dump(report, f, indent=1, default=str)
    print(json.dumps({k: report[k] for k in ("device", "trace_seconds", "cache_scenes")}))


if __name__ == "__main__":
    main()
