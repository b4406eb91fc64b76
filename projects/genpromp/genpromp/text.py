"""Prompts of GenPromp: learnable class tokens, templates, a tiny tokenizer.

Public signatures (stable)::

    PromptTokenEmbedding(base, init_ids)     # frozen table + (C, D) prompts
    build_tiny_clip_tokenizer(words, model_max_length=16) -> CLIPTokenizer
    meta_words_from_names(class_names) -> list[str]
    read_class_names(class_names) -> list[str]
    encode_templates(tokenizer, templates, meta_words)
        -> (ids (C, T, L) int64, class_pos int)

The representative prompt of class ``c`` is a template (``'a photo of a
{}'``) with a new token ``<c>`` whose embedding is learned in stage 1; the
discriminative prompt puts the class's "meta" word (the last word of its
name, e.g. ``albatross``; the last sub-token when the word is not one token)
in the same place. Both share the token ids except at the class position,
where the representative prompt holds ``vocab_size + c``;
:class:`PromptTokenEmbedding` maps those ids to the learned rows and every
other id to the frozen CLIP table, so nothing but the prompt rows can train.
"""
import os.path as osp
import re
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmfg.utils.errors import ConfigError

__all__ = [
    'PromptTokenEmbedding', 'build_tiny_clip_tokenizer',
    'meta_words_from_names', 'read_class_names', 'encode_templates',
    'CAPTION_TEMPLATES'
]

# The seven caption templates of the paper's code base (the class token is
# the fifth word of each, so all of them put it at the same position).
CAPTION_TEMPLATES = (
    'a photo of a {}',
    'a rendering of a {}',
    'the photo of a {}',
    'a photo of my {}',
    'a photo of the {}',
    'a photo of one {}',
    'a rendition of a {}',
)


class PromptTokenEmbedding(nn.Module):
    """A frozen token-embedding table extended by learnable class rows.

    Ids ``< V`` (``V`` = rows of ``base``) read the frozen table; id
    ``V + c`` reads the learnable row ``c`` of :attr:`prompts`.

    Args:
        base (nn.Embedding): the text encoder's ``(V, D)`` token table; its
            weight is frozen (``requires_grad=False``) and kept as is.
        init_ids (Sequence[int]): ``(C,)`` ids of the table rows that
            initialise the ``C`` class rows (the meta tokens).
    """

    def __init__(self, base: nn.Embedding, init_ids: Sequence[int]) -> None:
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        ids = torch.as_tensor(list(init_ids), dtype=torch.long)
        self.prompts = nn.Parameter(base.weight.detach()[ids].clone())

    @property
    def base_vocab_size(self) -> int:
        """int: ``V``, the id of the first class token."""
        return self.base.weight.shape[0]

    @property
    def weight(self) -> torch.Tensor:
        """Tensor: ``(V + C, D)`` the effective table (a concatenation)."""
        return torch.cat([self.base.weight, self.prompts], 0)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Embed token ids.

        Args:
            input_ids (Tensor): ``(..., L)`` int64 ids in ``[0, V + C)``.

        Returns:
            Tensor: ``(..., L, D)`` embeddings.
        """
        v = self.base_vocab_size
        out = F.embedding(input_ids.clamp(max=v - 1), self.base.weight)
        is_prompt = input_ids >= v
        learned = self.prompts[(input_ids - v).clamp(min=0)]
        return torch.where(is_prompt[..., None], learned.to(out.dtype), out)


def build_tiny_clip_tokenizer(words: Sequence[str],
                              model_max_length: int = 16):
    """A byte-level BPE ``CLIPTokenizer`` whose vocabulary is ``words``.

    Every letter (alone and word-final) is in the BPE vocabulary and each
    word of ``words`` is a whole-word added token, so prompts built from
    these words tokenise one word per token. For tests and tiny
    configs: no file, no download.

    Args:
        words (Sequence[str]): lower-case words that must be single tokens.
        model_max_length (int): padded prompt length ``L``.

    Returns:
        transformers.CLIPTokenizer: the tokenizer.
    """
    from tokenizers import AddedToken
    from transformers import CLIPTokenizer

    vocab = {'<|startoftext|>': 0, '<|endoftext|>': 1}
    for c in 'abcdefghijklmnopqrstuvwxyz0123456789':
        vocab[c] = len(vocab)
        vocab[c + '</w>'] = len(vocab)
    tokenizer = CLIPTokenizer(
        vocab=vocab, merges=[], model_max_length=model_max_length)
    words = sorted({str(w).lower() for w in words})
    for word in words:
        if not re.fullmatch(r'[a-z0-9]+', word):
            raise ConfigError(f'build_tiny_clip_tokenizer: word {word!r} '
                              'must be lower-case letters/digits.')
    # whole-word added tokens: each listed word is one token, other text
    # falls back to single characters
    tokenizer.add_tokens(
        [AddedToken(w, single_word=True, normalized=True) for w in words])
    return tokenizer


def read_class_names(class_names: Union[str, Sequence[str]]) -> List[str]:
    """Class names from a list or a CUB-layout ``classes.txt``.

    Args:
        class_names (str | Sequence[str]): names, or the path of a file of
            ``<id> <name>`` lines (CUB ``classes.txt``).

    Returns:
        list[str]: the names in file order.

    Raises:
        ConfigError: the file does not exist or is empty.
    """
    if not isinstance(class_names, str):
        return [str(n) for n in class_names]
    if not osp.isfile(class_names):
        raise ConfigError(
            f'GenPromp: class_names file "{class_names}" does not exist. '
            'Point model.class_names at the dataset\'s classes.txt (it is '
            'written when the dataset is first built) or give a list.')
    names = []
    with open(class_names) as f:
        for line in f:
            parts = line.strip().split(maxsplit=1)
            if parts:
                names.append(parts[-1])
    if not names:
        raise ConfigError(f'GenPromp: class_names file "{class_names}" is '
                          'empty.')
    return names


def meta_words_from_names(class_names: Sequence[str]) -> List[str]:
    """The discriminative word of each class: the last word of its name.

    ``'001.Black_footed_Albatross'`` -> ``'albatross'`` (numeric prefix
    dropped, ``_`` and ``-`` split words, first of comma-separated
    synonyms).

    Args:
        class_names (Sequence[str]): ``(C,)`` names.

    Returns:
        list[str]: ``(C,)`` lower-case words.
    """
    out = []
    for name in class_names:
        name = re.sub(r'^\d+\.', '', name.split(',')[0].strip())
        words = [w for w in re.split(r'[\s_\-]+', name) if w]
        out.append(words[-1].lower() if words else 'object')
    return out


def encode_templates(tokenizer, templates: Sequence[str],
                     meta_words: Sequence[str]) -> Tuple[torch.Tensor, int]:
    """Token ids of every (class, template) discriminative prompt.

    A meta word that is several tokens is replaced by its last sub-token
    (as the paper's code). The class token must sit at the same position in
    every template, because the prompts' embeddings are averaged over
    templates and one attention column is read.

    Args:
        tokenizer: a CLIP tokenizer.
        templates (Sequence[str]): ``(T,)`` strings with one ``{}``.
        meta_words (Sequence[str]): ``(C,)`` words.

    Returns:
        tuple: ``ids (C, T, L)`` int64 padded to ``model_max_length`` and
        ``class_pos`` (int), the index of the class token.

    Raises:
        ConfigError: a template without exactly one ``{}`` or templates that
            place the class token differently.
    """
    positions = set()
    for tpl in templates:
        if tpl.count('{}') != 1:
            raise ConfigError(f'GenPromp: template {tpl!r} must contain '
                              'exactly one "{}" (the class token).')
        prefix = tpl.split('{}')[0].strip()
        n = len(tokenizer(prefix, add_special_tokens=False).input_ids) \
            if prefix else 0
        positions.add(n + 1)  # + the start token
    if len(positions) != 1:
        raise ConfigError(
            f'GenPromp: templates {list(templates)} put the class token at '
            f'different positions {sorted(positions)}; the embeddings are '
            'averaged over templates, so use templates with the same number '
            'of tokens before "{}".')
    pos = positions.pop()
    singles = []
    for w in meta_words:
        ids = tokenizer(w, add_special_tokens=False).input_ids
        singles.append(tokenizer.decode(ids[-1:]).strip())
    texts = [tpl.format(w) for w in singles for tpl in templates]
    ids = tokenizer(
        texts,
        padding='max_length',
        truncation=True,
        max_length=tokenizer.model_max_length,
        return_tensors='pt').input_ids
    if pos >= ids.shape[1]:
        raise ConfigError(f'GenPromp: the class token position {pos} does '
                          'not fit the tokenizer length '
                          f'{tokenizer.model_max_length}.')
    return ids.view(len(meta_words), len(templates), -1), pos
