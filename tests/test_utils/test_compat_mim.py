"""``mmfg::`` config paths (MMEngine) and the ``mmfg/.mim`` package data
(MIM) that ``pip install`` makes from ``setup.py``."""
import importlib.util
import os
import os.path as osp

import pytest
import yaml
from mmengine.config import Config

import mmfg

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_setup_module():
    spec = importlib.util.spec_from_file_location(
        'mmfg_setup', osp.join(ROOT, 'setup.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # setup() runs only as __main__
    return module


def test_model_index_lists_every_metafile():
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    listed = sorted(index['Import'])
    on_disk = sorted(
        osp.relpath(osp.join(d, 'metafile.yml'), ROOT)
        for d in (osp.join(ROOT, 'configs', n)
                  for n in os.listdir(osp.join(ROOT, 'configs')))
        if osp.isfile(osp.join(d, 'metafile.yml')))
    assert listed == on_disk


def test_installed_package_has_mim_folder():
    mim = osp.join(osp.dirname(mmfg.__file__), '.mim')
    for name in ('configs', 'tools', 'model-index.yml'):
        assert osp.exists(osp.join(mim, name)), (
            f'{mim}/{name} is missing: reinstall mmfg with `pip install -e .` '
            '(setup.py makes it)')
    assert osp.isfile(
        osp.join(mim, 'configs', 'protopnet', 'protopnet_r18_synthbirds.py'))


def test_config_inherits_mmfg_base(tmp_path):
    cfg_file = tmp_path / 'my_protopnet.py'
    cfg_file.write_text(
        "_base_ = ['mmfg::protopnet/protopnet_r18_synthbirds.py']\n"
        'model = dict(head=dict(num_prototypes_per_class=3))\n')
    cfg = Config.fromfile(str(cfg_file))
    here = Config.fromfile(
        osp.join(ROOT, 'configs', 'protopnet', 'protopnet_r18_synthbirds.py'))
    assert cfg.model.head.type == here.model.head.type == 'ProtoPNetHead'
    assert cfg.model.head.num_prototypes_per_class == 3
    assert cfg.model.backbone.depth == here.model.backbone.depth
    data, data_here = cfg.train_dataloader.dataset, \
        here.train_dataloader.dataset
    assert data.pipeline == data_here.pipeline
    # inherited dicts carry the scope, so they resolve in mmfg from any
    # default scope (MMEngine's rule for `pkg::` bases)
    assert cfg.model._scope_ == data._scope_ == 'mmfg'
    assert cfg.default_scope == 'mmfg'


def test_other_packages_resolve_as_before():
    import mmengine.config.config as config_module
    path = config_module.get_installed_path('mmpretrain')
    assert osp.isdir(osp.join(path, '.mim', 'configs'))
    from pkg_resources import DistributionNotFound
    with pytest.raises(DistributionNotFound):
        config_module.get_installed_path('no_such_package_mmfg_test')


@pytest.mark.parametrize('mode', ['copy', 'symlink'])
def test_setup_makes_mim_folder(tmp_path, mode):
    setup = _load_setup_module()
    root = tmp_path / 'checkout'
    (root / 'mmfg').mkdir(parents=True)
    (root / 'configs' / 'a').mkdir(parents=True)
    (root / 'configs' / 'a' / 'x.py').write_text('x = 1\n')
    (root / 'configs' / 'a' / '__pycache__').mkdir()
    (root / 'configs' / 'a' / '__pycache__' / 'x.pyc').write_text('')
    (root / 'tools').mkdir()
    (root / 'tools' / 'train.py').write_text('')
    (root / 'model-index.yml').write_text('Import: []\n')
    # a stale copy from an earlier install is replaced
    (root / 'mmfg' / '.mim' / 'configs' / 'old').mkdir(parents=True)
    setup.add_mim_extension(mode, str(root))
    mim = root / 'mmfg' / '.mim'
    assert (mim / 'configs' / 'a' / 'x.py').read_text() == 'x = 1\n'
    assert not (mim / 'configs' / 'old').exists()
    assert (mim / 'model-index.yml').read_text() == 'Import: []\n'
    assert not (mim / 'configs' / 'a' / '__pycache__').exists() or \
        mode == 'symlink'
    if mode == 'copy':
        assert not (mim / 'configs').is_symlink()
        (root / 'configs' / 'a' / 'y.py').write_text('')
        assert not (mim / 'configs' / 'a' / 'y.py').exists()
    else:
        assert (mim / 'configs').is_symlink()
        (root / 'configs' / 'a' / 'y.py').write_text('')  # follows checkout
        assert (mim / 'configs' / 'a' / 'y.py').exists()
    # the checkout itself is never touched
    assert (root / 'configs' / 'a' / 'x.py').read_text() == 'x = 1\n'


def test_wheel_build_copies_into_build_dir_only(tmp_path):
    """``build_py`` puts the copies in the build folder, not the checkout."""
    from setuptools.dist import Distribution
    setup = _load_setup_module()
    root = tmp_path / 'checkout'
    (root / 'mmfg').mkdir(parents=True)
    (root / 'mmfg' / '__init__.py').write_text('')
    (root / 'configs').mkdir()
    (root / 'configs' / 'x.py').write_text('x = 1\n')
    (root / 'tools').mkdir()
    (root / 'model-index.yml').write_text('Import: []\n')
    dist = Distribution(dict(name='mmfg', packages=['mmfg']))
    dist.script_name = str(root / 'setup.py')
    cmd = setup.BuildPyWithMim(dist)
    cmd.build_lib = str(tmp_path / 'build')
    cmd.ensure_finalized()
    old = os.getcwd()
    os.chdir(root)  # setuptools builds from the checkout
    try:
        cmd.run()
    finally:
        os.chdir(old)
    assert (tmp_path / 'build' / 'mmfg' / '.mim' / 'configs' /
            'x.py').read_text() == 'x = 1\n'
    assert not (root / 'mmfg' / '.mim').exists()
