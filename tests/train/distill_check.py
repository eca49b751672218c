#!/usr/bin/env python3
"""Checks of train.py --teacher (distillation) that can fail: the teachers' logit is
their mean, weight 0 leaves the label loss alone, with weight 1 the student's loss is
lowest where its logits equal the teachers' (zero gradient there), and teachers that
are certain give the loss of their hard decisions. Exit 0 when every check holds,
1 otherwise, 77 (skipped) where python3-torch is not installed."""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from pychecks import check, finish, skip_without  # noqa: E402

torch = skip_without("torch", "python3-torch is not installed")
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(ROOT / "models" / "train"))
import train  # noqa: E402


class Constant(torch.nn.Module):
    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, x):
        return torch.full((x.shape[0],), self.value)


x = torch.zeros(3, 5, 2)
t = train.teacher_logit([Constant(1.0), Constant(-3.0), Constant(5.0)], x)
check(torch.allclose(t, torch.full((3,), 1.0)), f"the teachers' logit is their mean ({t.tolist()})")

y = torch.tensor([0.0, 1.0, 1.0])
teach = torch.tensor([-1.0, 2.0, 0.5])
logits = torch.tensor([0.3, -0.2, 1.5], requires_grad=True)
label = F.binary_cross_entropy_with_logits(logits, y)
check(torch.allclose(train.distill_loss(label, logits, teach, 0.0), label), "weight 0: the label loss alone")

student = teach.clone().requires_grad_(True)
soft_loss = train.distill_loss(torch.zeros(()), student, teach, 1.0)
soft_loss.backward()
check(student.grad.abs().max() < 1e-6, f"weight 1: zero gradient where the student equals the teachers "
                                        f"({student.grad.abs().max():.2e})")
away = train.distill_loss(torch.zeros(()), teach + 0.5, teach, 1.0)
check(float(away) > float(soft_loss), "weight 1: moving off the teachers' logits raises the loss")

sure = torch.tensor([-30.0, 30.0, 30.0])  # teachers certain of y
hard = train.distill_loss(torch.zeros(()), logits, sure, 1.0)
check(abs(float(hard) - float(label)) < 1e-4, "certain teachers give the loss of their hard decisions")
finish()
