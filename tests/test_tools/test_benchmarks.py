"""Every benchmark under tools/benchmarks runs (tiny sizes, CPU) and
prints its comparison: a benchmark that no longer runs is caught here, not
by the next person who needs its numbers. The GPU suite has its own test
(test_gpu_suite.py)."""
import glob
import os.path as osp
import re
import runpy
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BENCH_DIR = osp.join(ROOT, 'tools', 'benchmarks')

TINY_ARGS = {
    'bench_attribution': ('--size 32 --base-channels 8 --patch 16 --steps 4 '
                          '--chunk-size 16 --lazy-batch 2'),
    'bench_bas': ('--base-channels 8 --img-size 32 --batch 2 --num-classes 5 '
                  '--hidden 16 --topk 4 --repeat 1'),
    'bench_birdsat':
    '--batch 4 --dim 32 --ground-tokens 16 --sat-tokens 16',
    'bench_cct':
    '--size 32 --batch 2 --repeats 1',
    'bench_cmd':
    ('--batch 2 --k 16 --dim 8 --global-regions 4 --local-regions '
     '2 --locals 2 --repeat 1'),
    'bench_gabor': ('--base-channels 8 --size 32 --batch 2 --repeats 1 '
                    '--zoom-size 16'),
    'bench_genpromp':
    '--img-size 32 --batch 2 --num-classes 3 --repeat 1',
    'bench_large_gallery':
    ('--gallery 2000 --dim 8 --queries 10 --k 5 --clusters 10 '
     '--nlist 8 --nprobe 2 4'),
    'bench_metaformer':
    '--img-size 32 --batch 2 --repeat 1',
    'bench_prototree':
    ('--depths 2 --batch 4 --in-channels 8 --proto-channels 8 '
     '--size 3 --classes 5 --repeats 1'),
    'bench_prototype_layer':
    ('--batch 4 --num-classes 3 --protos-per-class 2 --dim 8 --map '
     '3 --img-size 32 --num-images 8 --push-batch 4 --repeat 1'),
    'bench_rbi': ('--base-channels 8 --size 32 --batch 2 --repeats 1 '
                  '--pairs-batch 4'),
    'bench_relational_losses':
    '--batch 8 --dim 8 --repeat 1',
    'bench_retrieval':
    '--small 200 16 --skip-large --ref-queries 10 --classes 5',
    'bench_snr':
    '--n 16 --dim 8 --repeat 1',
    'bench_wsol_sweep':
    '--size 32 --coarse 4 --num-maps 2 --interval 0.05',
}


def test_every_benchmark_has_tiny_arguments():
    found = {
        osp.basename(p)[:-3]
        for p in glob.glob(osp.join(BENCH_DIR, 'bench_*.py'))
    }
    assert found == set(TINY_ARGS), (
        'add tiny CPU arguments for new benchmarks to TINY_ARGS: '
        f'{sorted(found ^ set(TINY_ARGS))}')


@pytest.mark.parametrize('name', sorted(TINY_ARGS))
def test_benchmark_runs(name, monkeypatch, capsys):
    path = osp.join(BENCH_DIR, name + '.py')
    monkeypatch.setattr(sys, 'argv', [path] + TINY_ARGS[name].split())
    monkeypatch.syspath_prepend(BENCH_DIR)  # as when run as a script
    runpy.run_path(path, run_name='__main__')
    out = capsys.readouterr().out
    # each prints at least one comparison: a number followed by 'x'
    # (189x, 1.06x) or a speed-up / ratio / overhead with a number
    assert re.search(r'\d\s?x\b|(ratio|speed-up|overhead)\D{0,40}\d', out,
                     re.IGNORECASE), out
