"""``--help`` of every analysis tool states what the tool does.

The tools take their argparse description from the first line of their
module docstring; taking the wrong line left ``--help`` without one.
"""
import glob
import importlib.util
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'tools', 'analysis_tools', '*.py'))
    if 'def parse_args' in open(p).read())


def _load(path):
    name = 'mmfg_tool_' + osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tools_found():
    names = {osp.basename(p) for p in TOOLS}
    assert {'explain.py', 'attribute.py', 'export_pseudo_masks.py',
            'attribution_synthbirds.py'} <= names


@pytest.mark.parametrize('path', TOOLS, ids=osp.basename)
def test_help_shows_docstring_summary(path, monkeypatch, capsys):
    module = _load(path)
    summary = module.__doc__.strip().split('\n')[0].strip()
    assert summary, f'{path}: module docstring starts with an empty line'
    monkeypatch.setattr('sys.argv', [path, '--help'])
    with pytest.raises(SystemExit) as exc:
        module.parse_args()
    assert exc.value.code == 0
    # argparse re-wraps the description: compare with whitespace collapsed
    text = ' '.join(capsys.readouterr().out.split())
    assert ' '.join(summary.split()) in text
