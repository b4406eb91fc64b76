"""Benchmark: vectorised ProtoTreeHead vs a recursive per-node reference.

Both start from the same feature map ``(B, C_in, H, W)`` and the same
parameters (add-on, prototypes, leaves) and run forward + NLL loss +
backward. The reference follows the original algorithm: squared distances
with a ones-convolution for ``||x||^2`` and a convolution for ``x.p``
(``sqrt(|d| + 1e-14)``), global min-pool, one tensor per node, a recursive
Python forward through every branch and leaf, leaf distributions repeated
over the batch. Outputs are compared, then timed (best of ``--repeats``,
which is robust to other load on the machine); the derivative-free leaf
update (vectorised vs one loop step per leaf) is timed too.

Example::

    OMP_NUM_THREADS=1 python tools/benchmarks/bench_prototree.py
    python tools/benchmarks/bench_prototree.py --device cuda --depths 5 7 9 11
"""
import argparse
from typing import Callable, Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmfg.utils.benchmark import time_fns


class RecursiveProtoTree(nn.Module):
    """The straightforward reference: one Python call per node."""

    def __init__(self, head) -> None:
        super().__init__()
        self.add_on = head.add_on
        self.prototypes = head.prototypes
        self.leaf_params = head.leaf_params
        self.left = head.tree_left.tolist()
        self.right = head.tree_right.tolist()
        self.root = 0

    def distances(self, z: torch.Tensor) -> torch.Tensor:
        protos = self.prototypes[:, :, None, None]  # (P, D, 1, 1)
        ones = torch.ones_like(protos)
        x2 = F.conv2d(z**2, weight=ones)
        p2 = (protos**2).sum((1, 2, 3)).view(-1, 1, 1)
        xp = F.conv2d(z, weight=protos)
        return torch.sqrt(torch.abs(x2 + p2 - 2 * xp) + 1e-14)

    def forward(self, x: torch.Tensor):
        z = self.add_on(x)
        B = z.shape[0]
        d = self.distances(z)
        min_d = -F.max_pool2d(-d, kernel_size=d.shape[-2:]).view(B, -1)
        sims = torch.exp(-min_d).chunk(min_d.shape[1], dim=1)
        attr: Dict = {}

        def node_forward(code: int, pa: torch.Tensor) -> torch.Tensor:
            if code < 0:  # leaf
                leaf = -code - 1
                attr[('pa', leaf)] = pa
                dist = F.softmax(
                    self.leaf_params[leaf] - self.leaf_params[leaf].max(),
                    dim=0)
                return torch.cat((dist.view(1, -1), ) * B, dim=0)
            ps = sims[code].squeeze(1)
            attr[('ps', code)] = ps
            left = node_forward(self.left[code], (1 - ps) * pa)
            right = node_forward(self.right[code], ps * pa)
            ps = ps.view(B, 1)
            return (1 - ps) * left + ps * right

        out = node_forward(self.root, torch.ones(B, device=x.device))
        return out, attr


def leaf_update_loop(head, attr, y_pred, target):
    """One update per leaf, as the original training loop does it."""
    updates = []
    for leaf in range(head.num_leaves):
        dist = F.softmax(head.leaf_params[leaf], dim=0)
        pa = attr[('pa', leaf)].view(-1, 1)
        updates.append(torch.sum((pa * dist * target) / y_pred, dim=0))
    return torch.stack(updates)


def time_ms(fns: List[Callable], device: str, repeats: int) -> List[float]:
    """Best-of-``repeats`` time (ms) of each function, run interleaved."""
    times = time_fns(fns, device, repeats, warmup=2, reduce='min')
    return [t * 1e3 for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--depths', type=int, nargs='+',
                        default=[5, 7, 9, 11])
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--in-channels', type=int, default=256)
    parser.add_argument('--proto-channels', type=int, default=256)
    parser.add_argument('--size', type=int, default=7)
    parser.add_argument('--classes', type=int, default=200)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch default)')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import mmfg.models  # noqa: F401
    from mmfg.registry import MODELS

    dev = args.device
    print(f'device={dev} threads={torch.get_num_threads()} '
          f'batch={args.batch} features={args.in_channels}x{args.size}x'
          f'{args.size} D={args.proto_channels} classes={args.classes}')
    print(f'{"depth":>5} {"protos":>6} {"ref ms":>9} {"vec ms":>8} '
          f'{"speedup":>8} {"max|dy|":>9} | {"leaf-upd ref":>12} '
          f'{"vec":>7} {"speedup":>8}')
    for depth in args.depths:
        torch.manual_seed(0)
        head = MODELS.build(
            dict(type='ProtoTreeHead', num_classes=args.classes,
                 in_channels=args.in_channels, depth=depth,
                 proto_channels=args.proto_channels)).to(dev)
        head.leaf_params.uniform_(0, 3)
        ref = RecursiveProtoTree(head)
        x = torch.randn(args.batch, args.in_channels, args.size, args.size,
                        device=dev)
        y = torch.randint(0, args.classes, (args.batch, ), device=dev)

        def vec_step():
            head.zero_grad(set_to_none=True)
            out = head.route((x, ))
            loss = F.nll_loss(out['log_y'][:, 0], y)
            loss.backward()
            return out

        def ref_step():
            head.zero_grad(set_to_none=True)
            y_pred, attr = ref(x)
            loss = F.nll_loss(torch.log(y_pred), y)
            loss.backward()
            return y_pred, attr

        with torch.no_grad():
            y_vec = head.route((x, ))['log_y'][:, 0].exp()
            y_ref, attr = ref(x)
        diff = (y_vec - y_ref).abs().max().item()
        t_ref, t_vec = time_ms([ref_step, vec_step], dev, args.repeats)

        target = F.one_hot(y, args.classes).float()
        with torch.no_grad():
            out = head.route((x, ))
            u_ref = leaf_update_loop(head, attr, y_ref, target)
            u_vec = head.leaf_update(out['log_pi'], out['log_y'], target)
            torch.testing.assert_close(u_vec, u_ref, rtol=1e-3, atol=1e-4)
            tu_ref, tu_vec = time_ms([
                lambda: leaf_update_loop(head, attr, y_ref, target),
                lambda: head.leaf_update(out['log_pi'], out['log_y'], target)
            ], dev, args.repeats)
        print(f'{depth:>5} {head.num_prototypes:>6} {t_ref:>9.2f} '
              f'{t_vec:>8.2f} {t_ref / t_vec:>7.1f}x {diff:>9.2e} | '
              f'{tu_ref:>12.2f} {tu_vec:>7.2f} {tu_ref / tu_vec:>7.1f}x')


if __name__ == '__main__':
    main()
