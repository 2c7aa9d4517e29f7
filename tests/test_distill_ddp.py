"""DistributedDataParallel: two CPU processes on gloo, each with half of a batch of 2, take the same step as
one process with the whole batch (losses and the averaged gradients within float tolerance)."""

from __future__ import annotations

import datetime
import os
import socket
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp

from sinsr_gui.training.distill.trainer import Distributed, Trainer, load_images
from tests.test_distill_trainer import tiny_run

DEADLINE_S = 900  # only a guard against a hung process group, far above the normal run on a busy 2-core machine


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _step(cfg, dist: Distributed) -> dict:
    trainer = Trainer(cfg, dist, quiet=True)
    images = load_images(sorted(Path(cfg.data[0]).iterdir()), cfg.hr_size)
    losses = trainer.train_step(images)
    return {"losses": losses, "grads": {k: p.grad.clone() for k, p in trainer.student.named_parameters()},
            "params": {k: p.detach().clone() for k, p in trainer.student.named_parameters()}}


def _worker(rank: int, world: int, port: int, cfg, result_dir: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world,
                                         timeout=datetime.timedelta(seconds=DEADLINE_S))
    try:
        result = _step(cfg, Distributed.from_env())
        torch.save(result, Path(result_dir) / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def test_two_processes_of_batch_one_equal_one_process_of_batch_two(tmp_path):
    cfg = tiny_run(tmp_path, "ddp", batch=2, micro_batch=1, preview_every=0)
    ctx = mp.start_processes(_worker, args=(2, _free_port(), cfg, str(tmp_path)), nprocs=2, join=False,
                             start_method="spawn")
    deadline = time.monotonic() + DEADLINE_S
    while not ctx.join(timeout=5):
        assert time.monotonic() < deadline, "the two training processes did not finish"
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]

    torch.set_num_threads(1)
    single = _step(tiny_run(tmp_path, "single", batch=2, micro_batch=2, preview_every=0), Distributed())

    for k, v in single["losses"].items():
        assert abs(ranks[0]["losses"][k] - v) <= 1e-5 * abs(v), k
    flat = {name: torch.cat([g.flatten() for g in r["grads"].values()]) for name, r in
            (("rank0", ranks[0]), ("rank1", ranks[1]), ("single", single))}
    assert torch.equal(flat["rank0"], flat["rank1"])  # the all-reduce gave both processes the same gradient
    rel = ((flat["rank0"] - flat["single"]).norm() / flat["single"].norm()).item()
    assert flat["single"].norm() > 0 and rel < 1e-4
    for k in single["params"]:  # and both processes hold the same weights after the step
        assert torch.equal(ranks[0]["params"][k], ranks[1]["params"][k]), k
