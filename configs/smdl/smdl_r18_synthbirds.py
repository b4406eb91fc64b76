# SMDL ("Less is More", Chen et al., ICLR 2024) on the SynthBirds ResNet-18
# classifier of configs/baseline/resnet18_synthbirds.py: the same model with
# an explain_cfg; tools/test.py with its checkpoint reports accuracy and the
# faithfulness of SMDL's attributions (insertion / deletion AUC in region
# order, highest confidence, pointing game and mass inside the box).
_base_ = ['../baseline/resnet18_synthbirds.py']

explain_cfg = dict(
    method='smdl',
    target='gt',
    # 112 px inputs: about 25 SLIC superpixels
    partition=dict(type='slic', n_segments=25, compactness=10.),
    weights=dict(
        confidence=1., effectiveness=1., consistency=1., collaboration=1.),
    baseline='zeros',  # the dataset mean colour (zero after normalising)
    lazy=False,
    chunk_size=128,
    steps=25,
    order='auto',  # region order for SMDL
)
model = dict(type='AttributionClassifier', explain_cfg=explain_cfg)

test_dataloader = dict(batch_size=8)
# one SMDL batch takes minutes on a CPU: log every test iteration
default_hooks = dict(logger=dict(interval=1))
test_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(type='AttributionMetric', upto=0.25),
]
