#!/usr/bin/env bash
# The GPU check: a short training with `--device "$DEVICE"` (bf16 autocast, one process) on the built-in
# corpus, then decoding and evaluation on the GPU. Prints what it measured; writes logs under OUT.
#
#   OUT=/tmp/gpu bash benchmarks/gpu_check.sh            (any machine with a CUDA GPU and sentvae)
#
# Run on a lent GPU machine it takes 2-4 minutes; nothing here is used by the tests or CI.
set -euo pipefail
OUT=${OUT:-runs/gpu_check}
STEPS=${STEPS:-600}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT"
sentvae() { python3 -m sentvae "$@"; }
python3 -c "import torch; print('torch', torch.__version__, '| GPU', torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)"

# The demo's config (target rate 40 nats, z 64), STEPS steps at batch 64, then batch 256.
for batch in 64 256; do
  echo "== sentvae train, demo config, batch $batch, $STEPS steps, cuda, bf16"
  sentvae train --config demo --device "$DEVICE" --out "$OUT/demo_b$batch" \
    --set train.bf16=true --set train.batch_size=$batch --set train.max_steps=$STEPS \
    --set train.eval_every=200 --set train.log_every=100 --set train.fit_prior=true \
    2>&1 | tee "$OUT/train_b$batch.log" | grep -E "tok/s|valid|stopped|best|prior" | tail -12
done

model="$OUT/demo_b64"
python3 - "$model" <<'PY'
import sys
from sentvae.checkpoint import read_train_config, resolve_checkpoint
from sentvae.data import builtin_datasets
test = builtin_datasets(read_train_config(resolve_checkpoint(sys.argv[1])))["test"]["text"]
open(sys.argv[1] + "/test.txt", "w", encoding="utf-8").write("\n".join(test) + "\n")
PY
echo "== samples (greedy, fitted prior), reconstruction, interpolation on cuda"
sentvae sample -m "$model" --device "$DEVICE" -n 5
head -3 "$model/test.txt" > "$OUT/three.txt"
sentvae reconstruct -m "$model" --device "$DEVICE" --input "$OUT/three.txt"
sentvae interpolate -m "$model" --device "$DEVICE" --steps 5 "$(sed -n 1p "$OUT/three.txt")" "$(sed -n 2p "$OUT/three.txt")"
echo "== sentvae evaluate on cuda (built-in test split, 1,000 sentences)"
SECONDS=0; python3 -m sentvae evaluate -m "$model" --device "$DEVICE" \
  --data "$model/test.txt" --iw-samples 100 --json "$OUT/evaluation.json" 2>&1 | tail -30; echo "evaluate wall $SECONDS s"
