#!/usr/bin/env bash
# Distributed training with torchrun, on GPUs or (gloo) on CPU.
#
#   bash tools/dist_train.sh CONFIG NPROC [tools/train.py options...]
#
# Environment: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500),
# PYTHON (python). On a CPU-only machine each process trains on its shard with
# the gloo backend (see ferlab.utils.init_cpu_distributed).
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: bash tools/dist_train.sh CONFIG NPROC [tools/train.py options...]" >&2
    exit 2
fi
CONFIG=$1
NPROC=$2
shift 2
if ! [[ "$NPROC" =~ ^[1-9][0-9]*$ ]]; then
    echo "tools/dist_train.sh: NPROC must be a positive integer, got '$NPROC'" >&2
    exit 2
fi
if [ ! -f "$CONFIG" ]; then
    echo "tools/dist_train.sh: config file '$CONFIG' does not exist" >&2
    exit 2
fi

NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PORT=${PORT:-29500}
PYTHON=${PYTHON:-python}
TOOLS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

export PYTHONPATH="$(dirname "$TOOLS_DIR")${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$NPROC" \
    "$TOOLS_DIR/train.py" "$CONFIG" --launcher pytorch "$@"
