"""Box extraction from localisation maps (the WSOL protocol), one home.

Public signatures (stable; BAS, CAM, the metrics, the APIs and the tools all
use these)::

    normalize_map(loc_map, size=None) -> np.ndarray         # (H, W) float32
    quantize_map(norm_map) -> np.ndarray                     # (H, W) uint8
    default_thresholds(interval=0.001) -> np.ndarray         # (T,) float64
    sweep_boxes(qmap, thresholds, multi_contour=False, device=None,
                backend='auto') -> (boxes (K, 4) int64, thr_index (K,) int64)
    sweep(qmaps, thresholds=None, device=None, backend='auto') -> SweepResult
        # .largest (B, T, 4) boxes, all contours' boxes per distinct mask
    sweep_result_ious(res, gt_boxes, multi_contour=False) -> (B, T) Tensor
    sweep_ious(qmaps, gt_boxes, thresholds, multi_contour=False, device=None,
               backend='auto') -> (B, T) float32
    boxes_at_threshold(qmap, threshold, multi_contour=False) -> (K, 4) int64
    gt_boxes_to_pixels(boxes) -> (N, 4) int64
    box_iou_plus1(boxes_a, boxes_b) -> (..., Na, Nb) float32
    box_overlaps_plus1(boxes_a, boxes_b) -> (inter, area_a, area_b)
    mask_iou(pred_mask, gt_mask) -> float
    reference_sweep_boxes(qmap, thresholds, multi_contour=False)  # cv2 loop

The protocol (Choe et al., "Evaluating Weakly Supervised Object Localization
Methods Right", CVPR 2020; clovaai/wsolevaluation):

1. the map is resized to the input size (bicubic, ``cv2.INTER_CUBIC``) and
   min-max normalised (NaN or constant maps become all zeros);
2. it is quantised to ``uint8`` as ``(map * 255).astype(uint8)``;
3. a threshold ``tau`` keeps the pixels ``q > int(tau * q.max())``
   (``cv2.threshold(..., THRESH_BINARY)``);
4. ``cv2.findContours(RETR_TREE, CHAIN_APPROX_SIMPLE)`` gives the outer
   contours of the 8-connected foreground components *and* the contours of
   their holes (4-connected background components not connected to the image
   border); either the contour with the largest ``cv2.contourArea`` (MaxBoxAcc;
   Python's ``max`` keeps the first of equal areas in OpenCV's order) or all
   contours (MaxBoxAccV2) give boxes ``x, y, x + w, y + h`` (``w``, ``h`` of
   ``cv2.boundingRect``) with ``x + w`` clipped to ``W - 1`` and ``y + h`` to
   ``H - 1``; a threshold without contours gives ``[0, 0, 0, 0]``;
5. IoU uses the "+1 pixel" convention (``x2 - x1 + 1`` wide boxes).

How the sweep avoids a per-threshold contour loop. After quantisation at most
256 distinct binary masks exist; thresholds giving the same mask are merged.
Two exact backends then label the distinct masks (``backend='auto'`` picks
OpenCV on the CPU and torch elsewhere): ``'cv2'`` calls ``cv2.findContours``
once per distinct mask (at most 256 calls per map instead of 1000, the
faster path on a CPU), ``'torch'`` labels all masks of all maps at once as
described next (device-side, for GPUs).
The masks of all maps are never materialised: the horizontal runs of every
mask are generated at once from the pixel pairs of the maps (a run of the
mask ``q > c`` starts between two pixels ``a``, ``b`` iff
``min(a, b) <= c < max(a, b)``), inside a zero frame as OpenCV pads; runs of
consecutive rows are joined by a batched union-find in torch (min-label
hooking by ``scatter_reduce`` + pointer jumping): foreground 8-connected,
background 4-connected, masks never connected. Work and memory grow with the
number of runs, not with ``masks x pixels``. The contour quantities then
follow without tracing:

- an outer contour's bounding rect is its component's bounding box; a hole
  contour passes through the foreground pixels 4-adjacent to the hole, so its
  bounding rect is the hole's bounding box grown by one pixel;
- ``cv2.contourArea`` of a contour through pixel centres is counted exactly
  from 2x2 pixel windows (a window with 4 / 3 foreground pixels adds 1 / 0.5
  to its component, the rest of the window goes to the background pixels'
  components), summed over the containment tree (component -> holes ->
  islands ...), whose parent links come from the pixel left of a component's
  first pixel (raster order) and the pixel above a hole's first pixel. Areas
  are kept as integers (x12), so ties are exact. The windows are counted per
  pair of overlapping runs (constant windows) and at run starts (the rest);
- OpenCV lists the contours of a level in pre-order of the containment tree
  with siblings in reverse raster order of their first pixel; the largest
  contour is the first of maximal area in that order.

``reference_sweep_boxes`` is the straightforward per-threshold cv2 loop; the
tests check that both give identical boxes on random and realistic maps.
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch

__all__ = [
    'normalize_map', 'quantize_map', 'default_thresholds', 'sweep_boxes',
    'sweep_ious', 'boxes_at_threshold', 'gt_boxes_to_pixels',
    'box_iou_plus1', 'mask_iou', 'reference_sweep_boxes', 'threshold_levels',
    'sweep', 'sweep_result_ious', 'SweepResult', 'image_chunks',
    'box_overlaps_plus1'
]

ArrayLike = Union[np.ndarray, torch.Tensor]


def _to_numpy(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x)


def normalize_map(loc_map: ArrayLike,
                  size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Resize a map to the input size (bicubic) and min-max normalise it.

    Args:
        loc_map (np.ndarray | Tensor): ``(h, w)`` map, any range.
        size (tuple[int, int], optional): target ``(H, W)`` (the input image
            shape). ``None`` keeps the map's size.

    Returns:
        np.ndarray: ``(H, W)`` float32 in ``[0, 1]``; NaN-containing or
        constant maps give all zeros (as wsolevaluation's
        ``normalize_scoremap``).
    """
    m = _to_numpy(loc_map).astype(np.float32)
    if m.ndim != 2:
        raise ValueError(f'normalize_map: expected a (h, w) map, got shape '
                         f'{tuple(m.shape)}.')
    if size is not None and tuple(m.shape) != tuple(size):
        h, w = int(size[0]), int(size[1])
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_CUBIC)
    if np.isnan(m).any() or m.min() == m.max():
        return np.zeros_like(m)
    m = m - m.min()
    m /= m.max()
    return m


def quantize_map(norm_map: np.ndarray) -> np.ndarray:
    """``uint8`` quantisation of a ``[0, 1]`` map, ``(m * 255).astype(uint8)``.

    Args:
        norm_map (np.ndarray): ``(H, W)`` float map in ``[0, 1]``.

    Returns:
        np.ndarray: ``(H, W)`` uint8.
    """
    return (np.asarray(norm_map, dtype=np.float32) * 255).astype(np.uint8)


def default_thresholds(interval: float = 0.001) -> np.ndarray:
    """The protocol's threshold grid ``np.arange(0, 1, interval)``.

    Args:
        interval (float): step. Default 0.001 (1000 thresholds).

    Returns:
        np.ndarray: ``(T,)`` float64.
    """
    return np.arange(0, 1, interval)


def threshold_levels(qmax: int, thresholds: Sequence[float]) -> np.ndarray:
    """Integer cut levels ``int(tau * qmax)`` of each threshold.

    Args:
        qmax (int): maximum of the quantised map.
        thresholds (Sequence[float]): ``(T,)`` thresholds ``tau``.

    Returns:
        np.ndarray: ``(T,)`` int64; the mask of ``tau`` is ``q > level``.
    """
    taus = np.asarray(thresholds, dtype=np.float64)
    return np.trunc(taus * int(qmax)).astype(np.int64)


# ---------------------------------------------------------------------------
# the straightforward reference (per-threshold cv2 loop)
# ---------------------------------------------------------------------------
def _cv2_boxes(binary: np.ndarray,
               multi_contour: bool) -> List[List[int]]:
    h, w = binary.shape
    contours = cv2.findContours(binary, cv2.RETR_TREE,
                                cv2.CHAIN_APPROX_SIMPLE)[0]
    if len(contours) == 0:
        return [[0, 0, 0, 0]]
    if not multi_contour:
        contours = [max(contours, key=cv2.contourArea)]
    boxes = []
    for c in contours:
        x, y, bw, bh = cv2.boundingRect(c)
        boxes.append([x, y, min(x + bw, w - 1), min(y + bh, h - 1)])
    return boxes


def reference_sweep_boxes(
        qmap: np.ndarray,
        thresholds: Sequence[float],
        multi_contour: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Per-threshold ``cv2.threshold`` + ``cv2.findContours`` (the protocol).

    Slow on purpose: the reference the vectorised :func:`sweep_boxes` is
    tested and benchmarked against.

    Args:
        qmap (np.ndarray): ``(H, W)`` uint8 quantised map.
        thresholds (Sequence[float]): ``(T,)`` thresholds in ``[0, 1)``.
        multi_contour (bool): all contours (True) or the largest one.

    Returns:
        tuple: ``boxes (K, 4)`` int64 and ``thr_index (K,)`` int64 (the
        threshold of each box; one box per threshold when
        ``multi_contour=False``).
    """
    q = np.ascontiguousarray(qmap, dtype=np.uint8)[..., None]
    qmax = int(q.max())
    boxes, index = [], []
    for i, tau in enumerate(thresholds):
        _, binary = cv2.threshold(q, int(tau * qmax), 255, cv2.THRESH_BINARY)
        bs = _cv2_boxes(binary, multi_contour)
        boxes.extend(bs)
        index.extend([i] * len(bs))
    return (np.asarray(boxes, dtype=np.int64).reshape(-1, 4),
            np.asarray(index, dtype=np.int64))


# ---------------------------------------------------------------------------
# batched labelling of a stack of binary masks (runs + union-find)
# ---------------------------------------------------------------------------
def _union_find(num: int, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Minimum-label union-find over ``num`` nodes, all edges at once.

    Args:
        num (int): number of nodes.
        u (Tensor): ``(E,)`` int64 edge ends.
        v (Tensor): ``(E,)`` int64 edge ends.

    Returns:
        Tensor: ``(num,)`` int64, the smallest node index of each node's
        connected component.
    """
    f = torch.arange(num, device=u.device)
    while u.numel():
        fu, fv = f[u], f[v]
        m = torch.minimum(fu, fv)
        # hooking: the roots of both ends point to the smaller label
        f.scatter_reduce_(0, fu, m, 'amin')
        f.scatter_reduce_(0, fv, m, 'amin')
        # pointer jumping until every node points at a root
        while True:
            ff = f[f]
            if bool((ff == f).all()):
                break
            f = ff
        keep = f[u] != f[v]  # edges whose ends agree never change again
        u, v = u[keep], v[keep]
    return f


def _runs_of_maps(qp: torch.Tensor, cut: torch.Tensor, img: torch.Tensor):
    """Horizontal runs of all distinct masks, straight from the maps.

    No mask is materialised: the mask of level ``l`` is
    ``qp[img[l]] > cut[l]``, and a run of level ``l`` starts at pixel
    ``(y, x)`` iff ``min(a, b) <= cut[l] < max(a, b)`` for the pixel pair
    ``a = qp[y, x - 1]``, ``b = qp[y, x]``; every row also starts one at the
    frame. The work is proportional to the number of runs, not to
    ``levels x pixels``.

    Args:
        qp (Tensor): ``(B, Hp, Wp)`` int64 maps with a ``-1`` frame.
        cut (Tensor): ``(L,)`` int64 cut of each level, ascending within an
            image, levels of an image contiguous.
        img (Tensor): ``(L,)`` int64 map of each level (non-decreasing).

    Returns:
        tuple: ``run_pos (R,)`` sorted flat starts in the virtual
        ``(L, Hp, Wp)`` stack, ``run_end (R,)``, ``run_fg (R,)`` bool,
        edge ends ``u (E,)``, ``v (E,)`` (run ids), ``run_share (R,)``
        int64 (12 x the window area pieces owned by each run).
    """
    dev = qp.device
    nimg, hp, wp = qp.shape
    plane = hp * wp
    n = cut.numel()
    numel = n * plane
    flat_q = qp.reshape(-1)
    # ---- run starts --------------------------------------------------
    a, b = qp[:, :, :-1], qp[:, :, 1:]
    lo = torch.minimum(a, b).reshape(nimg, -1)
    hi = torch.maximum(a, b).reshape(nimg, -1)
    # first level of each map with a cut >= v, for v = -1..255 (a table)
    gkey = img * 1024 + cut + 1  # sorted: levels grouped by image
    vals = torch.arange(257, device=dev)
    table = torch.searchsorted(
        gkey, (torch.arange(nimg, device=dev)[:, None] * 1024 +
               vals).reshape(-1)).view(nimg, 257)
    j0 = torch.gather(table, 1, lo + 1).reshape(-1)
    j1 = torch.gather(table, 1, hi + 1).reshape(-1)
    counts = j1 - j0
    pair = torch.repeat_interleave(
        torch.arange(counts.numel(), device=dev), counts)
    first = torch.cumsum(counts, 0) - counts
    lev = j0[pair] + torch.arange(pair.numel(), device=dev) - first[pair]
    yx = pair % (hp * (wp - 1))
    y, x = yx // (wp - 1), yx % (wp - 1) + 1
    bounds = lev * plane + y * wp + x
    row_starts = torch.arange(n * hp, device=dev) * wp
    run_pos, _ = torch.sort(torch.cat([row_starts, bounds]))
    nrun = run_pos.numel()
    run_end = torch.cat([run_pos[1:], run_pos.new_tensor([numel])]) - 1

    def run_of(pix):
        return torch.searchsorted(run_pos, pix, right=True) - 1

    lv = run_pos // plane
    run_fg = flat_q[img[lv] * plane + run_pos % plane] > cut[lv]
    ids = torch.arange(nrun, device=dev)
    ry = (run_pos % plane) // wp
    rx = run_pos % wp
    xend = run_end % wp
    # the run covering the pixel below / above each run start (the runs
    # covering x - 1 and x + 1 there are that run or its neighbour)
    below = torch.full_like(ids, -1)
    ok_b = ry <= hp - 2
    below[ok_b] = run_of(run_pos[ok_b] + wp)
    above = torch.full_like(ids, -1)
    ok_a = ry >= 1
    above[ok_a] = run_of(run_pos[ok_a] - wp)

    # ---- edges between runs of consecutive rows -------------------------
    # computed on all runs at once (invalid rows masked), one compaction
    cand_v, cand_m = [], []
    for ok, other in ((ok_b, below), (ok_a, above)):
        o = other.clamp(min=0)
        fo = run_fg[o]
        sx, ex = rx[o], xend[o]
        ol = torch.where(sx < rx, o, o - 1).clamp(min=0)
        orr = torch.where(ex > rx, o, o + 1).clamp(max=nrun - 1)
        diag = ok & run_fg
        cand_v += [o, ol, orr]
        cand_m += [ok & (fo == run_fg), diag & (rx >= 1) & run_fg[ol],
                   diag & (rx + 1 < wp) & run_fg[orr]]
    cand_m = torch.stack(cand_m)
    u = ids.expand_as(cand_m)[cand_m]
    v = torch.stack(cand_v)[cand_m]
    # ---- window area pieces (x12) ----------------------------------------
    share = torch.zeros(nrun, dtype=torch.int64, device=dev)
    # uniform windows: both rows constant over columns x, x + 1; found from
    # the overlapping run pairs, at the later of the two run starts (pairs
    # with equal starts are counted from above)
    for dy, ok, other in ((1, ok_b, below), (-1, ok_a, above)):
        o = other.clamp(min=0)
        valid = ok if dy == 1 else ok & (rx[o] < rx)
        top, bot = (ids, o) if dy == 1 else (o, ids)
        cnt = torch.minimum(xend[top], xend[bot]) - torch.maximum(
            rx[top], rx[bot])
        target = torch.where(run_fg[top] & ~run_fg[bot], bot, top)
        share.scatter_add_(0, target,
                           torch.where(valid, 12 * cnt.clamp(min=0), 0))
    # the other windows: their right column starts a run in one row;
    # corners (top-left, top-right, bottom-left, bottom-right) as runs
    prev = (ids - 1).clamp(min=0)
    b_ = below.clamp(min=0)
    a_ = above.clamp(min=0)
    c_top = torch.stack(
        [prev, ids, torch.where(rx[b_] < rx, b_, b_ - 1).clamp(min=0), b_])
    v_top = (rx >= 1) & ok_b  # window below-left of a run start
    c_bot = torch.stack(
        [torch.where(rx[a_] < rx, a_, a_ - 1).clamp(min=0), a_, prev, ids])
    v_bot = (rx >= 1) & ok_a & (rx[a_] < rx)  # unless found from above
    corners = torch.cat([c_top, c_bot], 1)
    valid = torch.cat([v_top, v_bot])
    cfg = run_fg[corners]
    k = cfg.sum(0)
    per_fg = torch.tensor([0, 0, 0, 2, 3], device=dev)[k]
    per_bg = torch.tensor([3, 4, 6, 6, 0], device=dev)[k]
    amount = torch.where(cfg & valid, per_fg, per_bg * valid)
    share.scatter_add_(0, corners.reshape(-1), amount.reshape(-1))
    return run_pos, run_end, run_fg, u, v, share


def _contours_of_stack(qp: torch.Tensor, cut: torch.Tensor,
                       img: torch.Tensor):
    """Contours (outer and hole) of every distinct mask of several maps.

    Args:
        qp (Tensor): ``(B, Hp, Wp)`` int64 maps with a ``-1`` frame.
        cut (Tensor): ``(L,)`` cut of each level (see :func:`_runs_of_maps`).
        img (Tensor): ``(L,)`` map of each level.

    Returns:
        tuple: per contour ``level (K,)``, ``box (K, 4)`` (cv2 box in the
        unpadded image, before the ``W - 1`` clip), ``area12 (K,)`` (12 x
        contourArea) and ``order (K,)`` (position in OpenCV's list of its
        level).
    """
    _, hp, wp = qp.shape
    n = cut.numel()
    dev = qp.device
    plane = hp * wp
    numel = n * plane
    run_pos, run_end, run_fg, u, v, run_share = _runs_of_maps(qp, cut, img)
    nrun = run_pos.numel()

    def run_of(pix):
        return torch.searchsorted(run_pos, pix, right=True) - 1

    f = _union_find(nrun, u, v)
    is_root = f == torch.arange(nrun, device=dev)
    root_runs = torch.nonzero(is_root).squeeze(1)
    k = root_runs.numel()
    cid = torch.cumsum(is_root.to(torch.int64), 0) - 1
    comp = cid[f]  # component of each run
    roots = run_pos[root_runs]  # first pixel of each component
    row = run_pos // wp
    ymax = torch.full((k, ), -1, dtype=torch.int64, device=dev)
    ymax.scatter_reduce_(0, comp, row % hp, 'amax')
    xmin = torch.full((k, ), wp, dtype=torch.int64, device=dev)
    xmin.scatter_reduce_(0, comp, run_pos % wp, 'amin')
    xmax = torch.full((k, ), -1, dtype=torch.int64, device=dev)
    xmax.scatter_reduce_(0, comp, run_end % wp, 'amax')
    ymin = (roots % plane) // wp
    raw = torch.zeros(k, dtype=torch.int64, device=dev)
    raw.scatter_add_(0, comp, run_share)
    level = roots // plane
    is_fg = run_fg[root_runs]
    outside = (roots % plane) == 0  # the frame's component of each slice
    # containment tree: fg -> the component left of its first pixel,
    # hole -> the component above its first pixel
    nb = torch.where(is_fg, roots - 1, roots - wp).clamp(min=0)
    parent = comp[run_of(nb)]
    parent = torch.where(outside, torch.arange(k, device=dev), parent)
    # subtree sums of areas and sizes by walking up the ancestors
    area = raw.clone()
    size = torch.ones(k, dtype=torch.int64, device=dev)
    size[outside] = 0
    anc = parent.clone()
    active = ~outside & ~outside[anc]
    while bool(active.any()):
        a = anc[active]
        area.scatter_add_(0, a, raw[active])
        size.scatter_add_(0, a, torch.ones_like(a))
        anc = torch.where(active, parent[anc], anc)
        active = active & ~outside[anc]
    # pre-order position, siblings in reverse raster order of first pixels
    perm = torch.argsort(parent * (numel + 1) + (numel - roots))
    p_sorted = parent[perm]
    s_sorted = size[perm]
    excl = torch.cumsum(s_sorted, 0) - s_sorted
    first = torch.ones_like(p_sorted, dtype=torch.bool)
    first[1:] = p_sorted[1:] != p_sorted[:-1]
    grp = torch.cumsum(first.to(torch.int64), 0) - 1
    local = torch.empty_like(size)
    local[perm] = 1 + excl - excl[first][grp]
    local[outside] = 0
    pos = local.clone()
    anc = parent.clone()
    active = ~outside & ~outside[anc]
    while bool(active.any()):
        pos = pos + torch.where(active, local[anc], 0)
        anc = torch.where(active, parent[anc], anc)
        active = active & ~outside[anc]
    # boxes in unpadded coordinates: outer = component bbox, hole = bbox + 1
    grow = (~is_fg).to(torch.int64)
    box = torch.stack([xmin - 1 - grow, ymin - 1 - grow, xmax + grow,
                       ymax + grow], 1)
    keep = ~outside
    return level[keep], box[keep], area[keep], pos[keep]


# ---------------------------------------------------------------------------
# the vectorised sweep
# ---------------------------------------------------------------------------
def _distinct_levels(q: np.ndarray, levels: np.ndarray):
    """Merge cut levels that give the same mask (same foreground count)."""
    hist = np.bincount(q.reshape(-1), minlength=256)
    above = hist[::-1].cumsum()[::-1]  # above[v] = #(q >= v)
    count = np.append(above, 0)[np.clip(levels + 1, 0, 256)]
    uniq, first, inverse = np.unique(
        count, return_index=True, return_inverse=True)
    return levels[first], inverse.reshape(-1), uniq


def _contours_of_stack_cv2(qmaps: Sequence[np.ndarray],
                           level_vals: Sequence[np.ndarray]):
    """:func:`_contours_of_stack` by OpenCV, one call per distinct mask.

    Thresholds that give the same mask were merged before, so this runs
    ``cv2.findContours`` at most 256 times per map instead of once per
    threshold (1000); the contours are OpenCV's own, hence identical.
    """
    levels, boxes, areas, orders = [], [], [], []
    base = 0
    for q, lv in zip(qmaps, level_vals):
        for j, cut in enumerate(lv):
            binary = (q > cut).astype(np.uint8) * 255
            contours = cv2.findContours(binary, cv2.RETR_TREE,
                                        cv2.CHAIN_APPROX_SIMPLE)[0]
            for k, c in enumerate(contours):
                x, y, bw, bh = cv2.boundingRect(c)
                levels.append(base + j)
                boxes.append((x, y, x + bw, y + bh))
                areas.append(int(round(12 * cv2.contourArea(c))))
                orders.append(k)
        base += len(lv)
    return (torch.tensor(levels, dtype=torch.int64),
            torch.tensor(boxes, dtype=torch.int64).reshape(-1, 4),
            torch.tensor(areas, dtype=torch.int64),
            torch.tensor(orders, dtype=torch.int64))


def _resolve_backend(backend: str,
                     device: Optional[Union[str, torch.device]]) -> str:
    if backend not in ('auto', 'torch', 'cv2'):
        raise ValueError(f"backend must be 'auto', 'torch' or 'cv2', got "
                         f'{backend!r}')
    if backend != 'auto':
        return backend
    dev = torch.device(device) if device is not None else torch.device('cpu')
    return 'cv2' if dev.type == 'cpu' else 'torch'


def _sweep_stack(qmaps: Sequence[np.ndarray], thresholds: np.ndarray,
                 device: Optional[Union[str, torch.device]],
                 backend: str = 'auto'):
    """Contours of all distinct masks of several same-size maps.

    ``backend``: ``'torch'`` labels every distinct mask of every map at once
    (runs + batched union-find, on ``device``); ``'cv2'`` calls OpenCV once
    per distinct mask (the faster choice on a CPU); ``'auto'`` picks
    ``'cv2'`` on the CPU and ``'torch'`` elsewhere. Both are exact.
    """
    h, w = qmaps[0].shape
    level_vals, inverses = [], []
    total = 0
    for q in qmaps:
        lv, inv, _ = _distinct_levels(q, threshold_levels(q.max(),
                                                          thresholds))
        order = np.argsort(lv, kind='stable')  # ascending cuts
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        lv, inv = lv[order], rank[inv]
        level_vals.append(lv)
        inverses.append(inv + total)
        total += len(lv)
    dev = torch.device(device) if device is not None else torch.device('cpu')
    img_of_level = torch.from_numpy(
        np.concatenate([np.full(len(lv), i) for i, lv in enumerate(
            level_vals)])).to(dev)
    if _resolve_backend(backend, device) == 'cv2':
        level, box, area, pos = (
            t.to(dev) for t in _contours_of_stack_cv2(qmaps, level_vals))
    else:
        q_t = torch.from_numpy(np.stack(qmaps)).to(dev)
        cut = torch.from_numpy(np.concatenate(level_vals)).to(dev)
        qp = torch.full((len(qmaps), h + 2, w + 2), -1, dtype=torch.int64,
                        device=dev)
        qp[:, 1:-1, 1:-1] = q_t
        level, box, area, pos = _contours_of_stack(qp, cut, img_of_level)
    box[:, 2].clamp_(max=w - 1)
    box[:, 3].clamp_(max=h - 1)
    return (level, box, area, pos, total, np.concatenate(inverses),
            img_of_level)


def _largest(level, box, area, pos, total):
    """The first contour of maximal area per level (OpenCV order)."""
    dev = box.device
    big = int(pos.max()) + 2 if pos.numel() else 1
    score = area * big - pos
    best = torch.full((total, ), torch.iinfo(torch.int64).min,
                      dtype=torch.int64, device=dev)
    best.scatter_reduce_(0, level, score, 'amax')
    out = torch.zeros((total, 4), dtype=torch.int64, device=dev)
    hit = score == best[level]
    out[level[hit]] = box[hit]
    return out


def sweep_boxes(
        qmap: np.ndarray,
        thresholds: Optional[Sequence[float]] = None,
        multi_contour: bool = False,
        device: Optional[Union[str, torch.device]] = None,
        backend: str = 'auto') -> Tuple[np.ndarray, np.ndarray]:
    """Boxes of a quantised map for a whole threshold sweep, vectorised.

    Identical to :func:`reference_sweep_boxes` (boxes listed per threshold in
    OpenCV's contour order only for ``multi_contour=False``; with
    ``multi_contour=True`` the set of boxes per threshold is identical, the
    order within a threshold may differ).

    Args:
        qmap (np.ndarray): ``(H, W)`` uint8 map (:func:`quantize_map`).
        thresholds (Sequence[float], optional): ``(T,)``; default
            :func:`default_thresholds`.
        multi_contour (bool): all contours (True) or the largest.
        device (str | torch.device, optional): where to label (CPU default).
        backend (str): ``'auto'``, ``'torch'`` or ``'cv2'`` (see
            :func:`_sweep_stack`).

    Returns:
        tuple: ``boxes (K, 4)`` int64 ``x0, y0, x1, y1`` and
        ``thr_index (K,)`` int64.
    """
    taus = default_thresholds() if thresholds is None else np.asarray(
        thresholds, dtype=np.float64)
    q = np.ascontiguousarray(qmap, dtype=np.uint8)
    level, box, area, pos, total, inv, _ = _sweep_stack([q], taus, device,
                                                        backend)
    if not multi_contour:
        per_level = _largest(level, box, area, pos, total).cpu().numpy()
        return per_level[inv], np.arange(len(taus), dtype=np.int64)
    level = level.cpu().numpy()
    box = box.cpu().numpy()
    boxes, index = [], []
    order = np.argsort(level, kind='stable')
    level, box = level[order], box[order]
    starts = np.searchsorted(level, np.arange(total))
    ends = np.searchsorted(level, np.arange(total), side='right')
    for i, li in enumerate(inv):  # assembling the output list only
        b = box[starts[li]:ends[li]]
        if len(b) == 0:
            b = np.zeros((1, 4), dtype=np.int64)
        boxes.append(b)
        index.append(np.full(len(b), i, dtype=np.int64))
    return np.concatenate(boxes), np.concatenate(index)


def boxes_at_threshold(qmap: np.ndarray,
                       threshold: float,
                       multi_contour: bool = False) -> np.ndarray:
    """Boxes of one threshold (the largest contour's, or all).

    Args:
        qmap (np.ndarray): ``(H, W)`` uint8 map.
        threshold (float): ``tau`` in ``[0, 1)``.
        multi_contour (bool): all contours or the largest.

    Returns:
        np.ndarray: ``(K, 4)`` int64 boxes (``[[0, 0, 0, 0]]`` if none).
    """
    return sweep_boxes(qmap, [threshold], multi_contour)[0]


def gt_boxes_to_pixels(boxes: ArrayLike) -> np.ndarray:
    """Integer pixel boxes as the protocol's ``resize_bbox`` (truncation).

    Args:
        boxes (np.ndarray | Tensor): ``(N, 4)`` float ``x1, y1, x2, y2`` in
            input pixels (as :class:`PackFGInputs` packs ``gt_bboxes``).

    Returns:
        np.ndarray: ``(N, 4)`` int64.
    """
    b = _to_numpy(boxes).astype(np.float64).reshape(-1, 4)
    return np.trunc(b).astype(np.int64)


def box_overlaps_plus1(
        boxes_a: ArrayLike,
        boxes_b: ArrayLike) -> Tuple[ArrayLike, ArrayLike, ArrayLike]:
    """Intersections and areas with the "+1 pixel" convention.

    Args:
        boxes_a (Tensor): ``(..., Na, 4)`` ``x0, y0, x1, y1`` (inclusive).
        boxes_b (Tensor): ``(..., Nb, 4)``.

    Returns:
        tuple: float64 ``inter (..., Na, Nb)``, ``area_a (..., Na, 1)``,
        ``area_b (..., 1, Nb)``.
    """
    a = torch.as_tensor(boxes_a).to(torch.float64)
    b = torch.as_tensor(boxes_b).to(torch.float64).to(a.device)
    a, b = a.unsqueeze(-2), b.unsqueeze(-3)
    iw = (torch.minimum(a[..., 2], b[..., 2]) -
          torch.maximum(a[..., 0], b[..., 0]) + 1).clamp(min=0)
    ih = (torch.minimum(a[..., 3], b[..., 3]) -
          torch.maximum(a[..., 1], b[..., 1]) + 1).clamp(min=0)
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    return iw * ih, area_a, area_b


def box_iou_plus1(boxes_a: ArrayLike, boxes_b: ArrayLike) -> torch.Tensor:
    """IoU with the "+1 pixel" convention (inclusive integer corners).

    Args:
        boxes_a (Tensor): ``(..., Na, 4)`` ``x0, y0, x1, y1``.
        boxes_b (Tensor): ``(..., Nb, 4)``.

    Returns:
        Tensor: ``(..., Na, Nb)`` float32; 0 where the union is not positive.
    """
    inter, area_a, area_b = box_overlaps_plus1(boxes_a, boxes_b)
    union = area_a + area_b - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1e-12),
                      torch.zeros_like(union))
    return iou.to(torch.float32)


def mask_iou(pred_mask: ArrayLike, gt_mask: ArrayLike) -> float:
    """IoU of two binary masks (pixel counts; +1 convention is implicit).

    Args:
        pred_mask (np.ndarray | Tensor): ``(H, W)`` bool/0-1.
        gt_mask (np.ndarray | Tensor): ``(H, W)`` bool/0-1.

    Returns:
        float: ``|P & G| / |P | G|`` (0 for two empty masks).
    """
    p = _to_numpy(pred_mask) > 0
    g = _to_numpy(gt_mask) > 0
    union = np.logical_or(p, g).sum()
    return float(np.logical_and(p, g).sum() / union) if union else 0.0


class SweepResult(NamedTuple):
    """Boxes of a batch of maps at every threshold of a sweep.

    Attributes:
        largest (Tensor): ``(B, T, 4)`` int64, the largest contour's box.
        contour_boxes (Tensor): ``(K, 4)`` int64, the boxes of all contours
            of all distinct masks.
        contour_level (Tensor): ``(K,)`` int64, the distinct mask of each.
        level_index (Tensor): ``(B, T)`` int64, the distinct mask of each
            (map, threshold).
        level_image (Tensor): ``(L,)`` int64, the map of each distinct mask.
        empty_level (Tensor): ``(L,)`` bool, masks without foreground.
    """
    largest: torch.Tensor
    contour_boxes: torch.Tensor
    contour_level: torch.Tensor
    level_index: torch.Tensor
    level_image: torch.Tensor
    empty_level: torch.Tensor


def sweep(qmaps: Sequence[np.ndarray],
          thresholds: Optional[Sequence[float]] = None,
          device: Optional[Union[str, torch.device]] = None,
          backend: str = 'auto') -> SweepResult:
    """Largest-contour and all-contour boxes of same-size maps, one pass.

    Args:
        qmaps (Sequence[np.ndarray]): ``B`` uint8 ``(H, W)`` maps of one size.
        thresholds (Sequence[float], optional): ``(T,)``; default
            :func:`default_thresholds`.
        device (str | torch.device, optional): where to compute (CPU default).
        backend (str): ``'auto'`` (OpenCV per distinct mask on the CPU, the
            batched torch labelling elsewhere), ``'torch'`` or ``'cv2'``.

    Returns:
        SweepResult: on ``device``.
    """
    taus = default_thresholds() if thresholds is None else np.asarray(
        thresholds, dtype=np.float64)
    qs = [np.ascontiguousarray(q, dtype=np.uint8) for q in qmaps]
    if len({q.shape for q in qs}) != 1:
        raise ValueError('sweep: all maps must have the same size; group '
                         'them by shape (see sweep_ious).')
    level, box, area, pos, total, inv, img_of_level = _sweep_stack(
        qs, taus, device, backend)
    dev = box.device
    per_level = _largest(level, box, area, pos, total)
    level_index = torch.from_numpy(inv).to(dev).view(len(qs), len(taus))
    empty = torch.ones(total, dtype=torch.bool, device=dev)
    empty[level] = False
    return SweepResult(per_level[level_index], box, level, level_index,
                       img_of_level, empty)


def image_chunks(num: int, height: int, width: int,
                 max_voxels: int = 1 << 28) -> List[slice]:
    """Slices of at most ``max_voxels`` (256 masks per map) for :func:`sweep`.

    The masks are never materialised (memory grows with the number of
    runs); the bound keeps the virtual stack and its run lists moderate.

    Args:
        num (int): number of maps.
        height (int): map height.
        width (int): map width.
        max_voxels (int): bound of one virtual stack (256M voxels).

    Returns:
        list[slice]: consecutive chunks covering ``range(num)``.
    """
    per = max(1, max_voxels // (256 * (height + 2) * (width + 2)))
    return [slice(i, min(i + per, num)) for i in range(0, num, per)]


def _pad_gt(gt_boxes: Sequence[ArrayLike],
            dev) -> Tuple[torch.Tensor, torch.Tensor]:
    gmax = max(max(len(np.asarray(g).reshape(-1, 4)) for g in gt_boxes), 1)
    gts = torch.zeros((len(gt_boxes), gmax, 4), dtype=torch.int64)
    valid = torch.zeros((len(gt_boxes), gmax), dtype=torch.bool)
    for j, g in enumerate(gt_boxes):
        g = torch.as_tensor(np.asarray(g, dtype=np.int64).reshape(-1, 4))
        gts[j, :len(g)] = g
        valid[j, :len(g)] = True
    return gts.to(dev), valid.to(dev)


def sweep_result_ious(res: SweepResult, gt_boxes: Sequence[ArrayLike],
                      multi_contour: bool = False) -> torch.Tensor:
    """Best IoU with any GT box at every threshold, from a sweep.

    Args:
        res (SweepResult): output of :func:`sweep` for ``B`` maps.
        gt_boxes (Sequence): ``B`` integer ``(N_b, 4)`` boxes
            (:func:`gt_boxes_to_pixels`); an image without boxes gets 0.
        multi_contour (bool): the largest contour's box (MaxBoxAcc) or the
            best of all contours' boxes (MaxBoxAccV2).

    Returns:
        Tensor: ``(B, T)`` float32.
    """
    dev = res.largest.device
    gts, valid = _pad_gt(gt_boxes, dev)
    if not multi_contour:
        iou = box_iou_plus1(res.largest, gts)  # (B, T, G)
        return torch.where(valid[:, None], iou, 0.0).amax(-1)
    img = res.level_image[res.contour_level]
    iou = box_iou_plus1(res.contour_boxes.unsqueeze(1), gts[img]).squeeze(1)
    iou = torch.where(valid[img], iou, 0.0).amax(-1)
    nlev = res.level_image.numel()
    best = torch.zeros(nlev, device=dev)
    best.scatter_reduce_(0, res.contour_level, iou, 'amax')
    # masks without contours: the protocol's [0, 0, 0, 0] box
    zero = torch.zeros((nlev, 1, 4), dtype=torch.int64, device=dev)
    iou0 = box_iou_plus1(zero, gts[res.level_image]).squeeze(1)
    iou0 = torch.where(valid[res.level_image], iou0, 0.0).amax(-1)
    best = torch.where(res.empty_level, iou0, best)
    return best[res.level_index]


def sweep_ious(qmaps: Sequence[np.ndarray],
               gt_boxes: Sequence[ArrayLike],
               thresholds: Optional[Sequence[float]] = None,
               multi_contour: bool = False,
               device: Optional[Union[str, torch.device]] = None,
               backend: str = 'auto') -> np.ndarray:
    """Best IoU with any GT box at every threshold, for several maps.

    Args:
        qmaps (Sequence[np.ndarray]): ``B`` uint8 ``(H, W)`` maps (sizes may
            differ; equal sizes are labelled together).
        gt_boxes (Sequence): ``B`` integer ``(N_b, 4)`` boxes.
        thresholds (Sequence[float], optional): ``(T,)``.
        multi_contour (bool): all contours or the largest.
        device (str | torch.device, optional): where to compute.
        backend (str): see :func:`sweep`.

    Returns:
        np.ndarray: ``(B, T)`` float32.
    """
    taus = default_thresholds() if thresholds is None else np.asarray(
        thresholds, dtype=np.float64)
    out = np.zeros((len(qmaps), len(taus)), dtype=np.float32)
    groups = {}
    for i, q in enumerate(qmaps):
        groups.setdefault(tuple(np.shape(q)), []).append(i)
    for members in groups.values():
        h, w = np.shape(qmaps[members[0]])
        for chunk in image_chunks(len(members), h, w):
            idx = members[chunk]
            res = sweep([qmaps[i] for i in idx], taus, device, backend)
            out[idx] = sweep_result_ious(res, [gt_boxes[i] for i in idx],
                                         multi_contour).cpu().numpy()
    return out
