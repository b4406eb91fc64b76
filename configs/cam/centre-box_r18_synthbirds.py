# Centre-box baseline: the same classifier as cam_r18_synthbirds.py, but the
# localisation map is a centred pyramid, so the tau sweep picks the best
# centred box. tau is chosen on the test set itself (threshold='oracle'):
# the best centred box there is, an upper bound of this baseline, so it
# favours the baseline, never the method. Test it with the CAM checkpoint:
#   python tools/test.py configs/cam/centre-box_r18_synthbirds.py \
#       work_dirs/cam_r18_synthbirds/epoch_20.pth
_base_ = ['./cam_r18_synthbirds.py']

model = dict(map_source='centre')
wsol_threshold = '{work_dir}/centre-box_threshold.json'
val_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(
        type='LocalizationMetric',
        threshold='oracle',
        cam_curve_interval=0.01,
        topk=(1, ),
        save_threshold=wsol_threshold),
]
test_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(
        type='LocalizationMetric',
        threshold='oracle',
        cam_curve_interval=0.01,
        topk=(1, )),
]
