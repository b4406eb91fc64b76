"""Every method folder has a README and a metafile in the OpenMMLab form,
and the metafiles list every shipped config (``mim search`` and the model
zoo read them)."""
import glob
import numbers
import os.path as osp

import pytest
import yaml

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METHOD_DIRS = sorted(
    d for d in glob.glob(osp.join(ROOT, 'configs', '*')) +
    glob.glob(osp.join(ROOT, 'projects', '*'))
    if osp.isdir(d) and osp.basename(d) not in ('_base_', '__pycache__'))
METAFILES = sorted(
    glob.glob(osp.join(ROOT, 'configs', '*', 'metafile.yml')) +
    glob.glob(osp.join(ROOT, 'projects', '*', 'metafile.yml')))


def _rel(path: str) -> str:
    return osp.relpath(path, ROOT)


def _load(path: str) -> dict:
    with open(path) as f:
        meta = yaml.safe_load(f)
    assert isinstance(meta, dict), f'{_rel(path)}: not a YAML mapping'
    return meta


def test_every_method_dir_has_readme_and_metafile():
    missing = [
        f'{_rel(d)}/{name}' for d in METHOD_DIRS
        for name in ('README.md', 'metafile.yml')
        if not osp.isfile(osp.join(d, name))
    ]
    assert not missing, f'missing: {missing}'


@pytest.mark.parametrize('path', METAFILES, ids=[_rel(p) for p in METAFILES])
def test_metafile_form(path):
    meta = _load(path)
    collections = meta.get('Collections') or []
    assert collections, f'{_rel(path)}: no Collections'
    names = {c['Name'] for c in collections}
    for col in collections:
        readme = col.get('README')
        assert readme and osp.isfile(osp.join(ROOT, readme)), (
            f'{_rel(path)}: collection {col["Name"]}: README {readme!r} '
            'does not exist')
    models = meta.get('Models') or []
    assert models, f'{_rel(path)}: no Models'
    for model in models:
        where = f'{_rel(path)}: model {model.get("Name")!r}'
        assert model.get('Name'), f'{_rel(path)}: a model without Name'
        assert model.get('In Collection') in names, (
            f'{where}: In Collection {model.get("In Collection")!r} is not '
            f'one of {sorted(names)}')
        config = model.get('Config')
        assert config and osp.isfile(osp.join(ROOT, config)), (
            f'{where}: Config {config!r} does not exist')
        assert osp.splitext(osp.basename(config))[0] == model['Name'], (
            f'{where}: Name should be the config file name')
        for result in model.get('Results') or []:
            assert result.get('Task') and result.get('Dataset'), (
                f'{where}: a result needs Task and Dataset')
            for key, value in (result.get('Metrics') or {}).items():
                assert isinstance(value, numbers.Number), (
                    f'{where}: metric {key!r} = {value!r} is not a number')


def test_metafiles_list_every_config_once():
    listed = {}
    for path in METAFILES:
        for model in _load(path).get('Models') or []:
            config = model.get('Config')
            assert config not in listed, (
                f'{config} is listed in {listed.get(config)} and '
                f'{_rel(path)}')
            listed[config] = _rel(path)
    configs = sorted(
        _rel(p) for p in glob.glob(osp.join(ROOT, 'configs', '*', '*.py')) +
        glob.glob(osp.join(ROOT, 'projects', '*', 'configs', '*.py'))
        if '/_base_/' not in p)
    unlisted = [c for c in configs if c not in listed]
    assert not unlisted, (
        f'configs not in any metafile.yml (add a Models entry): {unlisted}')
