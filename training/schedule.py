"""The learning-rate schedule pretraining and fine-tuning share."""

from __future__ import annotations


class LinearSchedule:
    """Linear warm-up over the first 5% of steps, then linear decay to 5%."""

    def __init__(self, optimizer, peak: float, total_steps: int) -> None:
        self.optimizer, self.peak, self.total = optimizer, peak, max(1, total_steps)
        self.warmup = max(1, self.total // 20)
        self.step_no = 0

    def step(self) -> None:
        s = self.step_no
        scale = (s + 1) / self.warmup if s < self.warmup else max(
            0.05, 1 - (s - self.warmup) / max(1, self.total - self.warmup))
        for group in self.optimizer.param_groups:
            group["lr"] = self.peak * scale
        self.step_no += 1
