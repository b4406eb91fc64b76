# MMDetection Faster R-CNN trained on WSOL pseudo boxes (no box labels used):
#   1. python tools/analysis_tools/export_pseudo_boxes.py \
#          configs/cam/cam_r18_synthbirds.py CKPT --split train \
#          --index-names --out work_dirs/cam_r18_synthbirds/pseudo_train.json
#   2. mim train mmdet configs/cam/faster-rcnn_r50_synthbirds-pseudo.py
#      (or MMDetection's tools/train.py)
# Needs MMDetection and full (compiled) mmcv: pip install -r
# requirements/det.txt (mmcv-lite lacks RoIAlign / NMS).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'

default_scope = 'mmdet'
pseudo_ann = 'work_dirs/cam_r18_synthbirds/pseudo_train.json'
num_classes = 10
classes = tuple(f'class_{i}' for i in range(num_classes))

model = dict(
    backbone=dict(init_cfg=None),  # no download; set a local checkpoint
    roi_head=dict(bbox_head=dict(num_classes=num_classes)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(
        type='CocoDataset',
        data_root='',
        ann_file=pseudo_ann,  # file_name entries are absolute paths
        data_prefix=dict(img=''),
        metainfo=dict(classes=classes),
        filter_cfg=dict(filter_empty_gt=True, min_size=2),
        pipeline=train_pipeline))
# the pseudo boxes are the only labels: evaluate on GT boxes separately
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None

train_cfg = dict(max_epochs=12, val_interval=12)
optim_wrapper = dict(optimizer=dict(lr=0.005))
