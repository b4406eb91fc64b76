"""Last-layer-only optimisation of prototype networks (after push/prune).

ProtoPNet and ST-ProtoPNet train the last layer alone after every push:
everything else is frozen (``requires_grad=False``: no gradient, no update,
no weight decay) and the last layer is optimised by the runner's own
optimiser wrapper at its own learning rate (1e-4 in both papers) over the
training dataloader. Because the last layer is frozen during warm-up and
joint training (neither official optimiser holds it), its Adam state only
accumulates over these phases: the same as the separate last-layer optimiser
of the official code.
"""
import contextlib
from typing import Iterator, List, Optional

from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import nn

from mmfg.utils.errors import ConfigError

__all__ = [
    'unwrap_model', 'prototype_head', 'last_layer_parameters',
    'trainable_only', 'set_requires_grad', 'train_last_layer'
]


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a DDP / FSDP wrapper."""
    return model.module if is_model_wrapper(model) else model


def prototype_head(model: nn.Module, hook: str = 'this hook') -> nn.Module:
    """The prototype head of ``model`` (``model.head``).

    Raises:
        ConfigError: when the head has no ``prototype_layers()``.
    """
    head = getattr(unwrap_model(model), 'head', None)
    if head is None or not hasattr(head, 'prototype_layers'):
        raise ConfigError(
            f'{hook} needs a model whose `head` is a prototype head '
            '(ProtoPNetHead, STProtoPNetHead, ...); got '
            f'{type(head).__name__}.')
    return head


def last_layer_parameters(head: nn.Module) -> List[nn.Parameter]:
    """Last-layer weights of every branch of a prototype head."""
    return [
        p for layer in head.prototype_layers().values()
        for p in layer.last_layer.parameters()
    ]


def set_requires_grad(params, flag: bool) -> None:
    """Set ``requires_grad`` (and drop stale gradients when freezing)."""
    for p in params:
        p.requires_grad_(flag)
        if not flag:
            p.grad = None


@contextlib.contextmanager
def trainable_only(model: nn.Module,
                   params: List[nn.Parameter]) -> Iterator[None]:
    """Inside the block only ``params`` require gradients; the previous
    ``requires_grad`` flags are restored on exit."""
    keep = {id(p) for p in params}
    saved = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in saved:
            p.requires_grad_(id(p) in keep)
            if id(p) not in keep:
                p.grad = None
        yield
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)


def train_last_layer(runner,
                     epochs: int,
                     lr: float,
                     max_iters: Optional[int] = None,
                     tag: str = 'last-layer') -> List[float]:
    """Optimise only the last layer(s) for ``epochs`` passes of the training
    dataloader.

    The optimiser parameter groups holding last-layer weights get ``lr``
    for the phase and their scheduled learning rate back afterwards; all
    other parameters are frozen meanwhile. The model stays in train mode
    (as the official code), so BatchNorm statistics keep updating.

    Args:
        runner (Runner): the MMEngine runner (its model, optimiser wrapper
            and train dataloader are used).
        epochs (int): passes over the training dataloader.
        lr (float): learning rate of the phase.
        max_iters (int, optional): stop each pass after this many batches
            (for quick runs).
        tag (str): name used in the log.

    Returns:
        list[float]: mean loss of each pass.
    """
    if epochs <= 0:
        return []
    model = runner.model
    head = prototype_head(model, 'train_last_layer')
    params = last_layer_parameters(head)
    ids = {id(p) for p in params}
    optim_wrapper = runner.optim_wrapper
    groups = [
        g for g in optim_wrapper.optimizer.param_groups
        if any(id(p) in ids for p in g['params'])
    ]
    if not groups:
        raise ConfigError(
            'Last-layer-only training: the optimiser holds none of the last-'
            'layer weights. Do not exclude `head.*last_layer` from the '
            'optimiser (freeze it with the push hook instead).')
    saved_lr = [g['lr'] for g in groups]
    dataloader = runner.train_dataloader
    sampler = getattr(dataloader, 'sampler', None)
    losses = []
    try:
        for g in groups:
            g['lr'] = lr
        optim_wrapper.zero_grad()
        with trainable_only(model, params):
            model.train()
            for ep in range(epochs):
                if hasattr(sampler, 'set_epoch'):
                    sampler.set_epoch(10_000 * (runner.epoch + 1) + ep)
                total = None
                n = 0
                for i, data_batch in enumerate(dataloader):
                    if max_iters is not None and i >= max_iters:
                        break
                    log_vars = model.train_step(
                        data_batch, optim_wrapper=optim_wrapper)
                    loss = log_vars['loss'].detach()
                    total = loss if total is None else total + loss
                    n += 1
                mean = float(total / max(n, 1)) if total is not None \
                    else float('nan')
                losses.append(mean)
                print_log(
                    f'[{tag}] epoch {runner.epoch + 1}: last-layer pass '
                    f'{ep + 1}/{epochs}, lr {lr:g}, mean loss {mean:.4f}',
                    logger='current')
                runner.message_hub.update_scalar('train/last_layer_loss',
                                                 mean)
    finally:
        for g, v in zip(groups, saved_lr):
            g['lr'] = v
        optim_wrapper.zero_grad()
        if hasattr(sampler, 'set_epoch'):
            sampler.set_epoch(runner.epoch)
    return losses
