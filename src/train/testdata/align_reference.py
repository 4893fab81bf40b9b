"""Reference values for src/train/align.rs tests (run: /work/venv-torch/bin/python align_reference.py).

Losses follow the definitions in align.rs; `ce_quirk` is HateXplain's Models/utils.py
`cross_entropy` (LogSoftmax over the non-pad attention probabilities); the HateXplain target
is Preprocess/attentionCal.py `aggregate_attention` with softmax over every position.
"""
import torch

att = torch.tensor([[0.5, 0.3, 0.2], [0.25, 0.75, 0.0]], dtype=torch.float64)
tgt = torch.tensor([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]], dtype=torch.float64)
mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]], dtype=torch.float64)

mse = ((att - tgt) ** 2 * mask).sum(-1) / mask.sum(-1)
kl = torch.stack([torch.nn.functional.kl_div(att[b, : int(mask[b].sum())].log(),
                  tgt[b, : int(mask[b].sum())], reduction="sum") for b in range(2)])
ce = -(tgt * att.clamp_min(1e-12).log() * mask).sum(-1)
logsm = torch.log_softmax(att + (mask - 1) * 1e9, -1)
ce_quirk = -(tgt * logsm * mask).sum(-1)
forbidden = (tgt == 0).double() * mask
pruthi = -torch.log(1 - (att * forbidden).sum(-1))
for name, v in [("mse", mse), ("kl", kl), ("ce", ce), ("ce_quirk", ce_quirk), ("pruthi", pruthi)]:
    print(name, [round(x, 6) for x in v.tolist()])

# HateXplain target, 4 tokens: token 1 marked by 2 of 3 annotators, token 2 by 1 of 3.
masks = torch.tensor([[0, 1, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.float64)
mean = masks.mean(0)
print("hatexplain_quirks", [round(x, 6) for x in torch.softmax(mean, -1).tolist()])
print("hatexplain_t0.2", [round(x, 6) for x in torch.softmax(mean / 0.2, -1).tolist()])
# With [CLS] ... [SEP] around the same 4 words, quirks: CLS/SEP are zeros in the softmax.
print("hatexplain_quirks_cls_sep", [round(x, 6) for x in torch.softmax(
    torch.cat([torch.zeros(1), mean, torch.zeros(1)]), -1).tolist()])
