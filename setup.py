"""Install mmfg.

mmcv comes in two distributions that own the same ``mmcv`` package: full
``mmcv`` (compiled ops, installed with ``mim install mmcv``) and pure-Python
``mmcv-lite``. mmfg needs either. To never overwrite a full mmcv with
mmcv-lite, this file asks for ``mmcv`` when a full mmcv is already installed
in the target environment and for ``mmcv-lite`` otherwise. The check reads
the target site-packages directly, so it also works inside pip's isolated
build environment.
"""
import glob
import os
import os.path as osp
import shutil
import site
import sys
import sysconfig
from typing import Optional

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name):
    path = osp.join(HERE, 'requirements', f'{name}.txt')
    with open(path) as f:
        lines = [ln.split('#')[0].strip() for ln in f]
    return [ln for ln in lines if ln]


def full_mmcv_installed() -> bool:
    dirs = {sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib']}
    try:
        dirs.add(site.getusersitepackages())
    except Exception:  # noqa: BLE001
        pass
    venv = os.environ.get('VIRTUAL_ENV')
    if venv:
        dirs.update(glob.glob(osp.join(venv, 'lib', 'python*',
                                       'site-packages')))
    for d in dirs:
        for info in glob.glob(osp.join(d, 'mmcv-*.dist-info')) + glob.glob(
                osp.join(d, 'mmcv-*.egg-info')):
            if not osp.basename(info).startswith('mmcv_lite'):
                return True
    return False


def mmcv_requirement() -> str:
    if full_mmcv_installed():
        return 'mmcv>=2.0.0,<2.2.0'
    return 'mmcv-lite>=2.0.0,<2.2.0'


MIM_ITEMS = ('configs', 'tools', 'model-index.yml')


def add_mim_extension(mode: str, root: str = HERE,
                      target: Optional[str] = None) -> None:
    """Put ``configs/``, ``tools/`` and ``model-index.yml`` in ``mmfg/.mim``.

    MIM (``mim train mmfg CONFIG``, ``mim search mmfg``) and MMEngine's
    ``_base_ = 'mmfg::protopnet/protopnet_r34_cub.py'`` read them there, as
    for every OpenMMLab package. An editable install links them into the
    checkout; a wheel gets copies in its build folder (the checkout is not
    changed, so it never holds stale copies).

    Args:
        mode (str): ``'symlink'`` or ``'copy'``.
        root (str): the checkout. Defaults to this file's folder.
        target (str, optional): the ``.mim`` folder to fill. Defaults to
            ``<root>/mmfg/.mim``.
    """
    mim = target or osp.join(root, 'mmfg', '.mim')
    os.makedirs(mim, exist_ok=True)
    for name in MIM_ITEMS:
        src, dst = osp.join(root, name), osp.join(mim, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if not osp.exists(src):
            continue
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim), dst)
        elif osp.isdir(src):
            shutil.copytree(
                src, dst, ignore=shutil.ignore_patterns('__pycache__'))
        else:
            shutil.copyfile(src, dst)


class BuildPyWithMim(build_py):
    """``build_py`` that also copies the MIM files into the built package."""

    def run(self) -> None:
        super().run()
        if not getattr(self, 'editable_mode', False):
            root = osp.dirname(osp.abspath(self.distribution.script_name))
            add_mim_extension(
                'copy', root, target=osp.join(self.build_lib, 'mmfg', '.mim'))


def get_version():
    scope = {}
    with open(osp.join(HERE, 'mmfg', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


def readme():
    with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
        return f.read()


if __name__ == '__main__':
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        add_mim_extension('symlink')
    setup(
        name='mmfg',
        version=get_version(),
        description='Fine-grained visual recognition methods for MMPretrain',
        long_description=readme(),
        long_description_content_type='text/markdown',
        keywords='fine-grained recognition, prototypes, WSOL, OpenMMLab',
        packages=find_packages(
            exclude=('configs', 'tools', 'tests', 'projects')),
        include_package_data=True,
        cmdclass={'build_py': BuildPyWithMim},
        python_requires='>=3.8',
        license='Apache License 2.0',
        classifiers=[
            'Programming Language :: Python :: 3',
            'Topic :: Scientific/Engineering :: Artificial Intelligence',
        ],
        install_requires=read_requirements('runtime') + [mmcv_requirement()],
        extras_require={
            'tests': read_requirements('tests'),
            'det': read_requirements('det'),
            'seg': read_requirements('seg'),
            'diffusion': read_requirements('diffusion'),
            'lint': read_requirements('lint'),
            'all': (read_requirements('tests') + read_requirements('det') +
                    read_requirements('seg') +
                    read_requirements('diffusion')),
        },
        zip_safe=False)
