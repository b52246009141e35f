#!/usr/bin/python3
# PyTorch twin of dm_bench's BM_TrainStep (benchmark tool only; the project never runs Python): the same
# ~21M-parameter Qwen2 shape (hidden 512, 6 layers, 8 heads / 2 kv, head 64, MLP 1408, vocab 8192, tied
# embeddings, qkv bias), B=4, T=256, AdamW(1e-4, 0.9/0.95, wd 0.1), clip 1.0; fp32 or bf16 autocast.
# Debian's python3-torch (1.13). Usage: bench_train_pytorch.py THREADS fp32|bf16 STEPS
import sys, time, torch, torch.nn as nn, torch.nn.functional as F

H, L, NH, KV, HD, FF, V, B, T = 512, 6, 8, 2, 64, 1408, 8192, 4, 256

class RMS(nn.Module):
    def __init__(s): super().__init__(); s.w = nn.Parameter(torch.ones(H))
    def forward(s, x): return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * s.w

def rope(x, cos, sin):
    x1, x2 = x[..., :HD // 2], x[..., HD // 2:]
    return x * cos + torch.cat((-x2, x1), -1) * sin

class Layer(nn.Module):
    def __init__(s):
        super().__init__()
        s.n1, s.n2 = RMS(), RMS()
        s.q, s.k, s.v = nn.Linear(H, NH * HD), nn.Linear(H, KV * HD), nn.Linear(H, KV * HD)
        s.o = nn.Linear(NH * HD, H, bias=False)
        s.g, s.u, s.d = nn.Linear(H, FF, bias=False), nn.Linear(H, FF, bias=False), nn.Linear(FF, H, bias=False)
    def forward(s, x, cos, sin, mask):
        h = s.n1(x)
        q = s.q(h).view(B, T, NH, HD).transpose(1, 2)
        k = s.k(h).view(B, T, KV, HD).transpose(1, 2).repeat_interleave(NH // KV, 1)
        v = s.v(h).view(B, T, KV, HD).transpose(1, 2).repeat_interleave(NH // KV, 1)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        a = torch.softmax((q @ k.transpose(-1, -2)) / HD ** 0.5 + mask, -1) @ v
        x = x + s.o(a.transpose(1, 2).reshape(B, T, NH * HD))
        h = s.n2(x)
        return x + s.d(F.silu(s.g(h)) * s.u(h))

class Model(nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = nn.Embedding(V, H); s.layers = nn.ModuleList(Layer() for _ in range(L)); s.norm = RMS()
    def forward(s, ids, cos, sin, mask):
        x = s.emb(ids)
        for l in s.layers: x = l(x, cos, sin, mask)
        return s.norm(x) @ s.emb.weight.t()

def main():
    threads, prec, steps = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(threads); torch.manual_seed(1)
    m = Model()
    inv = 1.0 / (1e6 ** (torch.arange(0, HD, 2).float() / HD))
    ang = torch.outer(torch.arange(T).float(), inv); ang = torch.cat((ang, ang), -1)
    cos, sin = ang.cos(), ang.sin()
    mask = torch.full((T, T), float("-inf")).triu(1)
    ids = (torch.arange(B * T, dtype=torch.int64) * 2654435761 % V).view(B, T)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=(prec == "bf16")):
            logits = m(ids, cos, sin, mask)
        loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, V), ids[:, 1:].reshape(-1))
        loss.backward(); nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
    step()  # untimed, as BM_TrainStep
    t0 = time.perf_counter()
    for _ in range(steps): step()
    dt = (time.perf_counter() - t0) / steps
    print(f"pytorch {torch.__version__} {prec} threads {threads}: {dt * 1e3:.0f} ms/step, {B * T / dt:.0f} tokens/s")

main()
