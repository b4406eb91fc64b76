# SMDL on the CUB-200-2011 ResNet-50 classifier of
# configs/baseline/resnet50_cub.py (448 px): SLIC sub-regions ranked by the
# submodular score; tools/test.py reports top-1 and the faithfulness
# measures (insertion / deletion AUC, highest confidence (0-25%), pointing
# game and mass inside the CUB box). Needs a GPU (~3 m(m+1) images per
# image for m regions, batched).
_base_ = ['../baseline/resnet50_cub.py']

explain_cfg = dict(
    method='smdl',
    target='gt',
    partition=dict(type='slic', n_segments=49, compactness=10.),
    weights=dict(
        confidence=1., effectiveness=1., consistency=1., collaboration=1.),
    baseline='zeros',
    lazy=False,
    chunk_size=64,
    steps=49,
    order='auto',
)
model = dict(type='AttributionClassifier', explain_cfg=explain_cfg)

test_dataloader = dict(batch_size=4)
# one SMDL batch takes minutes on a CPU: log every test iteration
default_hooks = dict(logger=dict(interval=1))
test_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(type='AttributionMetric', upto=0.25, tolerance=15.),
]
